import type { Knex } from "knex";

export const name = "20261126000000_create_orders";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("orders", (t) => {
    t.string("order_id").primary();
    // The caller's idempotency key, and a hash of what it asked for under that key.
    t.string("request_id").notNullable().unique();
    t.string("fingerprint").notNullable();
    t.string("user_id").notNullable();
    t.string("status").notNullable();
    t.string("payment_method").notNullable();
    t.bigInteger("total_micros");
    t.string("currency_code");
    t.string("payment_id");
    // text, not string: a reason quotes the error that ended the order, of any length.
    t.text("rejection_reason");
    // The gRPC code a rejected order answers, so that a replay answers the same.
    t.integer("rejection_code");
    t.bigInteger("create_time").notNullable();
    t.bigInteger("update_time").notNullable();
    t.index(["user_id", "order_id"]);
    t.index(["status", "update_time"]);
  });
  await db.schema.createTable("order_items", (t) => {
    t.string("order_id").notNullable().references("order_id").inTable("orders");
    t.integer("position").notNullable();
    t.string("sku").notNullable();
    t.integer("quantity").notNullable();
    t.bigInteger("unit_price_micros");
    t.string("currency_code");
    t.primary(["order_id", "position"]);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("order_items");
  await db.schema.dropTable("orders");
}
