/**
 * node-sqlite3 with nothing around it (no knex, no store, no spans), for the benchmarks' floors:
 * section d's one-row writes (store-writes.ts) and section c's store floor (store-floor.ts).
 */

/** What the floors use of a node-sqlite3 prepared statement. */
export interface RawStatement {
  run(params: unknown[], done: (err: Error | null) => void): void;
  all(params: unknown[], done: (err: Error | null, rows: unknown[]) => void): void;
}

/** What the floors use of a node-sqlite3 database: one connection. */
export interface RawDatabase {
  exec(sql: string, done: (err: Error | null) => void): void;
  prepare(sql: string): RawStatement;
  close(done: () => void): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sqlite3 = require("sqlite3") as { Database: new (file: string) => RawDatabase };

/** Opens (creating it if need be) the SQLite file `file` on one node-sqlite3 connection. */
export const openRawDatabase = (file: string): RawDatabase => new sqlite3.Database(file);

/** `db.exec` as a promise: one trip to sqlite3's thread pool for every statement of `sql`. */
export const execRaw = (db: RawDatabase, sql: string): Promise<void> =>
  new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));

/** The pragmas of the services' stores (mesh/store/sqlite.ts) with durability "full". */
export const DURABLE_PRAGMAS = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
