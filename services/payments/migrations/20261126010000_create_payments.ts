import type { Knex } from "knex";

export const name = "20261126010000_create_payments";

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable("payments", (t) => {
    t.string("payment_id").primary();
    // UNIQUE backs Charge's idempotency: even a bug in the handler cannot charge an order twice.
    t.string("order_id").notNullable().unique();
    t.string("user_id").notNullable();
    t.bigInteger("amount_micros").notNullable().checkPositive();
    t.string("currency_code", 3).notNullable();
    t.string("payment_method").notNullable();
    t.string("status")
      .notNullable()
      .checkIn(["CAPTURED", "DECLINED", "PARTIALLY_REFUNDED", "REFUNDED"]);
    t.text("decline_reason").notNullable().defaultTo("");
    t.bigInteger("refunded_micros").notNullable().defaultTo(0);
    t.bigInteger("create_time").notNullable();
    t.bigInteger("update_time").notNullable();
    // Never give back more than was taken, whatever the code above the store does.
    t.check("refunded_micros >= 0 AND refunded_micros <= amount_micros");
    // ListPayments by user walks this index in payment_id order.
    t.index(["user_id", "payment_id"]);
  });
  await db.schema.createTable("refunds", (t) => {
    t.string("refund_id").primary();
    t.string("payment_id").notNullable().references("payment_id").inTable("payments");
    t.bigInteger("amount_micros").notNullable().checkPositive();
    // text: up to 500 characters (RefundRequest.reason), more than a string column holds.
    t.text("reason").notNullable().defaultTo("");
    t.bigInteger("create_time").notNullable();
    t.index(["payment_id"]);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable("refunds");
  await db.schema.dropTable("payments");
}
