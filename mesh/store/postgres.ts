import knex, { type Knex } from "knex";
import { Client, types } from "pg";
import type { Migration, StoreOptions } from "./store";
import { parsePostgresUrl, type PostgresLocation } from "../config/store-location";
import { applyMigrations } from "./migrations";

// Money and times are bigint columns, which pg hands back as strings (an int8 can exceed a JS
// number). The stores keep them as numbers, as they do on SQLite: parse them, and refuse a
// value a number cannot hold exactly rather than round it.
const INT8_OID = 20;
const parseInt8 = (text: string): number => {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`bigint ${text} is beyond a JavaScript number's exact range`);
  }
  return value;
};
const typeParsers = {
  getTypeParser: (oid: number, format?: string): ((text: string) => unknown) =>
    oid === INT8_OID && format !== "binary"
      ? parseInt8
      : (types.getTypeParser(oid, format === "binary" ? "binary" : "text") as (
          text: string,
        ) => unknown),
};

// Advisory lock keys: (namespace, hashtext(schema)), so services sharing a database each get
// their own locks (two schema names hashing alike would only share a lock: slower, never
// less safe). The namespaces are arbitrary constants that spell "mesh" and "migr".
const WRITE_LOCK = 0x6d657368;
const MIGRATION_LOCK = 0x6d696772;
const MIGRATION_LOCK_WAIT_MS = 30_000;
/** Connections per process: reads go on while a write transaction holds or awaits the lock. */
const POOL_SIZE = 4;

/**
 * Runs `work` holding the schema's migration lock: a session-level advisory lock on a
 * connection of its own, which the server releases when that connection ends, also when its
 * process dies. The schema is created under it, so first starts do not race to create it.
 */
async function withMigrationLock(
  location: PostgresLocation,
  work: () => Promise<void>,
): Promise<void> {
  const lock = new Client({ connectionString: location.connectionString });
  await lock.connect();
  try {
    await lock.query(`set lock_timeout = ${MIGRATION_LOCK_WAIT_MS}`);
    await lock.query("select pg_advisory_lock($1, hashtext($2))", [
      MIGRATION_LOCK,
      location.schema,
    ]);
    await lock.query(`create schema if not exists "${location.schema}"`);
    await work();
    await lock.query("select pg_advisory_unlock($1, hashtext($2))", [
      MIGRATION_LOCK,
      location.schema,
    ]);
  } finally {
    await lock.end();
  }
}

/** A PostgreSQL store's knex, and its write transactions with the guarantee of SQLite's. */
export interface PostgresStore {
  db: Knex;
  /**
   * Runs `work` in a transaction whose first statement takes the schema's write lock (an
   * advisory lock released at commit or rollback): write transactions of every process on the
   * schema run one at a time, as BEGIN IMMEDIATE makes them on SQLite. So a read-then-write
   * (is there stock? is this order charged?) cannot interleave with another's, and outbox
   * sequences, drawn inside it, commit in order. Plain reads and single statements outside
   * `write` do not wait for it.
   */
  write<T>(work: (trx: Knex) => Promise<T>): Promise<T>;
}

/**
 * Connects to the PostgreSQL database of `options.file` (a postgres:// URL), creates the
 * service's schema if needed, migrates it, and sets every connection's search_path to it.
 */
export async function openPostgres(
  options: StoreOptions,
  migrations: readonly Migration[],
  busyTimeoutMs: number,
): Promise<PostgresStore> {
  const location = parsePostgresUrl(options.file);
  // Durability "full" asks every commit to wait for its WAL flush, whatever the server's
  // default; "normal" keeps the server's setting.
  const settings = [`set lock_timeout = ${busyTimeoutMs}`];
  if (options.durability === "full") settings.push("set synchronous_commit = on");
  const db = knex({
    client: "pg",
    connection: { connectionString: location.connectionString, types: typeParsers },
    searchPath: [location.schema],
    pool: {
      min: 0,
      max: POOL_SIZE,
      afterCreate: (conn: Client, done: (err: Error | null, conn: unknown) => void) => {
        conn.query(settings.join("; ")).then(
          () => done(null, conn),
          (err: Error) => done(err, conn),
        );
      },
    },
  });
  try {
    await withMigrationLock(location, () => applyMigrations(db, migrations));
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return {
    db,
    write: (work) =>
      db.transaction(async (trx) => {
        await trx.raw("select pg_advisory_xact_lock(?, hashtext(?))", [
          WRITE_LOCK,
          location.schema,
        ]);
        return work(trx);
      }),
  };
}
