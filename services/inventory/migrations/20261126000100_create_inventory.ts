import type { Knex } from "knex";

export const name = "20261126000100_create_inventory";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("products", (t) => {
    t.string("sku").primary();
    t.string("name").notNullable();
    t.text("description").notNullable().defaultTo("");
    t.bigInteger("price_micros").notNullable();
    t.string("currency_code", 3).notNullable();
    t.integer("available").notNullable();
    t.integer("reserved").notNullable();
    t.bigInteger("create_time").notNullable();
    // The last line of defence for "stock never goes negative": a bug in a query rolls its
    // transaction back instead of overselling.
    t.check("?? >= 0", ["available"], "products_available_not_negative");
    t.check("?? >= 0", ["reserved"], "products_reserved_not_negative");
  });

  await db.schema.createTable("reservations", (t) => {
    t.string("order_id").primary();
    t.string("status").notNullable().checkIn(["RESERVED", "RELEASED"], "reservations_status_known");
    // The requested items as sorted "sku:quantity" pairs; a replay must match it. Empty for a
    // release recorded before any reservation.
    t.text("fingerprint").notNullable();
    t.bigInteger("create_time").notNullable();
    t.bigInteger("update_time").notNullable();
  });

  await db.schema.createTable("reservation_items", (t) => {
    t.string("order_id").notNullable().references("order_id").inTable("reservations");
    t.string("sku").notNullable().references("sku").inTable("products");
    t.integer("quantity").notNullable();
    t.bigInteger("unit_price_micros").notNullable();
    t.string("currency_code", 3).notNullable();
    t.primary(["order_id", "sku"]);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("reservation_items");
  await db.schema.dropTable("reservations");
  await db.schema.dropTable("products");
}
