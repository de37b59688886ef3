import type { Knex } from "knex";

/** Names of a service's outbox tables; each service has its own database, so one pair. */
export const OUTBOX_TABLE = "outbox";
export const CONSUMERS_TABLE = "event_consumers";

/**
 * Creates the outbox and its consumers' acknowledgements, for a service's migration.
 * `columns` adds the service's own columns to the outbox (an order id, a payment id), which
 * are there for people reading the table and for indexes: the payload holds the whole event.
 */
export async function createOutboxTables(
  db: Knex,
  columns: (table: Knex.CreateTableBuilder) => void = () => {},
): Promise<void> {
  await db.schema.createTable(OUTBOX_TABLE, (t) => {
    // INTEGER PRIMARY KEY AUTOINCREMENT: SQLite never hands out a sequence again, even after
    // compaction deleted the newest rows (https://sqlite.org/autoinc.html); a plain rowid would.
    t.increments("sequence");
    t.string("event_id").notNullable().unique();
    columns(t);
    // The kind of event, for example ORDER_CONFIRMED, for readers; the payload says the same.
    t.string("kind").notNullable();
    // The encoded event message, without its sequence (this row's key).
    t.binary("payload").notNullable();
    t.bigInteger("create_time").notNullable();
    t.index(["create_time"]);
  });
  await db.schema.createTable(CONSUMERS_TABLE, (t) => {
    t.string("consumer").primary();
    // Every event up to this sequence has been processed by the consumer; 0 for none yet.
    t.bigInteger("acknowledged_sequence").notNullable().defaultTo(0);
    t.bigInteger("update_time").notNullable();
  });
}

/** Drops what {@link createOutboxTables} created, for a migration's `down`. */
export async function dropOutboxTables(db: Knex): Promise<void> {
  await db.schema.dropTable(CONSUMERS_TABLE);
  await db.schema.dropTable(OUTBOX_TABLE);
}
