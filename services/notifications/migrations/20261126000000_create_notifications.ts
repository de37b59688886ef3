import type { Knex } from "knex";

export const name = "20261126000000_create_notifications";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("notifications", (t) => {
    t.string("notification_id").primary();
    t.string("user_id").notNullable();
    t.string("order_id").notNullable();
    t.string("kind").notNullable();
    t.string("title").notNullable();
    t.text("body").notNullable();
    // The event it came from (orders or payments): unique, so a redelivered event adds nothing.
    t.string("event_id").notNullable().unique();
    t.bigInteger("sequence").notNullable();
    t.bigInteger("create_time").notNullable();
    // ListNotifications: one user's, newest first.
    t.index(["user_id", "notification_id"]);
  });
  // Where each consumed stream was read up to; one row per stream ("orders").
  await db.schema.createTable("consumer_cursor", (t) => {
    t.string("stream").primary();
    t.bigInteger("last_sequence").notNullable();
    t.bigInteger("update_time").notNullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("consumer_cursor");
  await db.schema.dropTable("notifications");
}
