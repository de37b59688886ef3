import type { Knex } from "knex";

export const name = "20261127000000_create_outbox";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("outbox", (t) => {
    // INTEGER PRIMARY KEY AUTOINCREMENT: SQLite never hands out a sequence again, even after
    // compaction deleted the newest rows (https://sqlite.org/autoinc.html); a plain rowid would.
    t.increments("sequence");
    t.string("event_id").notNullable().unique();
    t.string("order_id").notNullable();
    t.string("user_id").notNullable();
    // ORDER_CONFIRMED or ORDER_REJECTED, for people reading the table; the payload says the same.
    t.string("kind").notNullable();
    // The encoded shop.orders.v1.OrderEvent, without its sequence (this row's key).
    t.binary("payload").notNullable();
    t.bigInteger("create_time").notNullable();
    t.index(["create_time"]);
  });
  await db.schema.createTable("event_consumers", (t) => {
    t.string("consumer").primary();
    // Every event up to this sequence has been processed by the consumer; 0 for none yet.
    t.bigInteger("acknowledged_sequence").notNullable().defaultTo(0);
    t.bigInteger("update_time").notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("event_consumers");
  await db.schema.dropTable("outbox");
}
