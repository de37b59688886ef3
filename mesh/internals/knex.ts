/**
 * The one place the mesh reaches into knex's private modules (`knex/lib/…`). knex ships its
 * SQLite dialect, its transaction class and its instance factory as CommonJS without type
 * declarations or a public export; store/sqlite.ts extends them to begin write transactions
 * with BEGIN IMMEDIATE, keep statements prepared and pin a knex to one connection.
 * internals.test.ts fails with a clear message when a knex release moves them.
 */
import type { Knex } from "knex";

/** knex's sqlite3 client class, as far as store/sqlite.ts extends it. */
export type Sqlite3ClientClass = new (config: Knex.Config) => {
  _query(connection: unknown, obj: unknown): Promise<unknown>;
};

/** knex's sqlite3 transaction class, as far as store/sqlite.ts extends it. */
export type SqliteTransactionClass = new (...args: unknown[]) => {
  query(conn: unknown, sql: string): Promise<unknown>;
};

/* eslint-disable @typescript-eslint/no-require-imports */
/** `knex/lib/dialects/sqlite3`: the client every SQLite knex is built on. */
export const Sqlite3Client = require("knex/lib/dialects/sqlite3") as Sqlite3ClientClass;
/** `knex/lib/dialects/sqlite3/execution/sqlite-transaction`: BEGIN/COMMIT for that client. */
export const SqliteTransaction =
  require("knex/lib/dialects/sqlite3/execution/sqlite-transaction") as SqliteTransactionClass;
/** `knex/lib/knex-builder/make-knex`: a knex instance around a given client. */
export const makeKnex = require("knex/lib/knex-builder/make-knex") as (client: object) => Knex;
/* eslint-enable @typescript-eslint/no-require-imports */
