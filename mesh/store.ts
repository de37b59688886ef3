import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knex, { type Knex } from "knex";
import type { Logger } from "./logger";
import type { Telemetry } from "./telemetry";

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

/** One schema change, as knex runs it. Names sort in the order they apply. */
export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Options for {@link openStore}. */
export interface StoreOptions {
  /** SQLite file, or ":memory:" for a private in-memory database (tests). */
  file: string;
  /** The service's migrations, applied in order at open. */
  migrations: readonly Migration[];
  /**
   * "full" syncs every commit to disk before it returns (money and orders); "normal" may lose
   * the last commits on power loss, never on a process crash. Defaults to "normal".
   */
  durability?: "full" | "normal";
  /** How long a write waits for another process's write lock. Defaults to 5 seconds. */
  busyTimeoutMs?: number;
  log?: Logger;
  /** Times every query (`mesh_store_query_duration_seconds`) and traces it. Defaults to none. */
  telemetry?: Telemetry;
}

/** A service's own database. */
export interface Store {
  /** For reads and single statements. */
  readonly db: Knex;
  /**
   * Runs `work` in a transaction that holds the write lock from its start; see above.
   * Inside `work`, query only through `trx`: the store has one connection, which the
   * transaction holds, so a query through `db` would wait for it until knex times out.
   */
  write<T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;
// Instances of a service open one file at once, and only one may migrate it. knex's own lock
// is a row in a table: a process that dies holding it leaves it set for ever, and two first
// starts race to create that table. So migrations run under an OS-level lock instead: an
// exclusive SQLite transaction on a side file, which the OS releases when its holder dies.
// Whoever holds it is the only one migrating, so a knex lock found set is stale and freed.
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

async function migrate(db: Knex, file: string, migrations: readonly Migration[]): Promise<void> {
  const source = {
    getMigrations: () => Promise.resolve([...migrations]),
    getMigrationName: (m: Migration) => m.name,
    getMigration: (m: Migration) => Promise.resolve(m),
  };
  await withMigrationLock(file, async () => {
    await db.migrate.forceFreeMigrationsLock({ migrationSource: source });
    await db.migrate.latest({ migrationSource: source });
  });
}

/** Opens (creating if needed) a service's SQLite store and applies its migrations. */
export async function openStore(options: StoreOptions): Promise<Store> {
  const { file } = options;
  if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
  const pragmas = [
    "PRAGMA journal_mode = WAL",
    `PRAGMA busy_timeout = ${options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS}`,
    "PRAGMA foreign_keys = ON",
    `PRAGMA synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`,
  ].join("; ");

  const db = knex({
    client: ImmediateSqlite3Client as unknown as typeof Knex.Client,
    connection: { filename: file },
    useNullAsDefault: true,
    // One connection per process: SQLite has one writer anyway, and an in-memory database
    // lives only as long as its connection.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (
        conn: { exec(sql: string, done: (err: Error | null) => void): void },
        done: (err: Error | null, conn: unknown) => void,
      ) => conn.exec(pragmas, (err) => done(err, conn)),
    },
  });

  const migrations = [...options.migrations].sort((a, b) => a.name.localeCompare(b.name));
  try {
    await migrate(db, file, migrations);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  options.log?.info({ file, migrations: migrations.length }, "store ready");
  // After the migrations: their queries are start-up work, not the service's.
  options.telemetry?.watchStore(db);

  return {
    db,
    write: (work) => db.transaction(work),
    close: () => db.destroy(),
  };
}
