import type { Knex } from "knex";
import type { Logger } from "../telemetry/logger";
import type { Telemetry } from "../telemetry";

/** One schema change, as knex runs it. Names sort in the order they apply. */
export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Options for {@link openStore}. */
export interface StoreOptions {
  /**
   * Where the store lives: a SQLite file, ":memory:" for a private in-memory database (tests),
   * or a PostgreSQL URL, `postgres://user:password@host:5432/database?schema=orders`, whose
   * optional `schema` parameter names the schema holding the service's tables ("public").
   */
  file: string;
  /** The service's migrations, applied in order at open. */
  migrations: readonly Migration[];
  /**
   * "full" syncs every commit to disk before it returns (money and orders); "normal" may lose
   * the last commits on power loss, never on a process crash. Defaults to "normal". On
   * PostgreSQL, "full" sets synchronous_commit on and "normal" keeps the server's setting.
   */
  durability?: "full" | "normal";
  /**
   * How long a write waits for another process's write lock (SQLite busy_timeout, PostgreSQL
   * lock_timeout). Defaults to 5 seconds.
   */
  busyTimeoutMs?: number;
  log?: Logger;
  /** Times every query (`mesh_store_query_duration_seconds`) and traces it. Defaults to none. */
  telemetry?: Telemetry;
}

/** A service's own database. */
export interface Store {
  /** For reads and single statements. */
  readonly db: Knex;
  /** Which database the store runs on, for the few queries that differ (docs/ARCHITECTURE.md, "Stores"). */
  readonly dialect: "sqlite" | "postgres";
  /**
   * Runs `work` in a transaction that holds the store's write lock from its first statement,
   * giving it a knex on which every query runs inside that transaction: write
   * transactions of every process sharing the store run one at a time (SQLite: BEGIN
   * IMMEDIATE, sent with the first statement whose answer `work` awaits, or with the COMMIT
   * when all its statements are deferred; PostgreSQL: an advisory lock, see postgres.ts).
   * Inside `work`, query only through `trx`: on SQLite the store has one connection, which
   * the transaction holds, so a query through `db` would wait for it until knex times out.
   * On SQLite, writes that queue up behind a commit are committed together (group commit,
   * see group-commit.ts): one fsync for the group, and a failing write rolls back alone. So
   * `work` may run twice (once in a group that another write failed, rolled back): it must
   * act only through `trx` and its return value, never on the world outside the store.
   */
  write<T>(work: (trx: Knex) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
