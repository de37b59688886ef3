import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knex, { type Knex } from "knex";
import type { Migration, StoreOptions } from "./store";
import { applyMigrations } from "./store-migrations";

// knex ships its dialects as CommonJS classes without type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Sqlite3Client = require("knex/lib/dialects/sqlite3") as new (config: Knex.Config) => object;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SqliteTransaction = require("knex/lib/dialects/sqlite3/execution/sqlite-transaction") as new (
  ...args: unknown[]
) => { query(conn: unknown, sql: string): Promise<unknown> };

/**
 * Write transactions start with BEGIN IMMEDIATE, taking SQLite's write lock before the first
 * read. With knex's plain BEGIN, two processes that read and then write the same file both
 * hold read snapshots, and the second to write fails with SQLITE_BUSY instead of waiting
 * (https://sqlite.org/lang_transaction.html#deferred_immediate_and_exclusive_transactions).
 */
class ImmediateTransaction extends SqliteTransaction {
  begin(conn: unknown): Promise<unknown> {
    return this.query(conn, "BEGIN IMMEDIATE;");
  }
}

class ImmediateSqlite3Client extends Sqlite3Client {
  transaction(...args: unknown[]): object {
    return new ImmediateTransaction(this, ...args);
  }
}

// Instances of a service open one file at once, and only one may migrate it. knex's own lock
// is a row in a table: a process that dies holding it leaves it set for ever, and two first
// starts race to create that table. So migrations run under an OS-level lock instead: an
// exclusive SQLite transaction on a side file, which the OS releases when its holder dies.
const MIGRATION_LOCK_WAIT_MS = 30_000;

type RawDatabase = {
  exec(sql: string, done: (err: Error | null) => void): void;
  close(done: (err: Error | null) => void): void;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const sqlite3 = require("sqlite3") as { Database: new (file: string) => RawDatabase };
const exec = (db: RawDatabase, sql: string): Promise<void> =>
  new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));

async function withMigrationLock(file: string, work: () => Promise<void>): Promise<void> {
  if (file === ":memory:") return work();
  const lock = new sqlite3.Database(`${file}.migrate-lock`);
  try {
    await exec(lock, `PRAGMA busy_timeout = ${MIGRATION_LOCK_WAIT_MS}; BEGIN EXCLUSIVE`);
    await work();
    await exec(lock, "COMMIT");
  } finally {
    await new Promise<void>((resolve) => lock.close(() => resolve()));
  }
}

/**
 * Opens a SQLite file (created if needed, with its directory) or ":memory:", migrated.
 * One connection: SQLite has one writer anyway, and an in-memory database lives only as long
 * as its connection. Write transactions are BEGIN IMMEDIATE (see above).
 */
export async function openSqlite(
  options: StoreOptions,
  migrations: readonly Migration[],
  busyTimeoutMs: number,
): Promise<Knex> {
  const { file } = options;
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const pragmas = [
    "PRAGMA journal_mode = WAL",
    `PRAGMA busy_timeout = ${busyTimeoutMs}`,
    "PRAGMA foreign_keys = ON",
    `PRAGMA synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`,
  ].join("; ");

  const db = knex({
    client: ImmediateSqlite3Client as unknown as typeof Knex.Client,
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (
        conn: { exec(sql: string, done: (err: Error | null) => void): void },
        done: (err: Error | null, conn: unknown) => void,
      ) => conn.exec(pragmas, (err) => done(err, conn)),
    },
  });
  try {
    await withMigrationLock(file, () => applyMigrations(db, migrations));
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return db;
}
