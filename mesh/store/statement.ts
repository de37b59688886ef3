import type { Knex } from "knex";
import type { Param } from "./literals";
import { deferOnSqlite, deferrable, runOnSqlite, type Deferrable } from "./sqlite";
import { UnexpectedChangesError } from "./expected-changes";

export type { Param };

/**
 * A statement a service runs on its hot path: plain SQL with `?` placeholders, the same text on
 * SQLite and PostgreSQL. On SQLite it runs as a node-sqlite3 statement prepared once per
 * connection, straight on the store's connection: no query builder, no knex runner, no pool
 * hand-over inside a write (bench section c: knex cost more CPU per statement than SQLite's
 * own work). On PostgreSQL it runs through `knex.raw`, which numbers the placeholders.
 *
 * Either way it is timed and traced as a knex query is (`mesh_store_query_duration_seconds`,
 * a store span): on SQLite through the store's probe (`observeStatements`, sqlite.ts), on
 * PostgreSQL through knex's own query events.
 *
 * Build one per SQL text, once (at module or store creation), and run it with the knex the
 * code has at hand: the store's `db`, or the `trx` that `Store.write` gives.
 */
export interface Statement<Row> {
  readonly sql: string;
  /** The rows it returns: a SELECT, or a write with RETURNING. */
  all(db: Knex, params: readonly Param[]): Promise<Row[]>;
  /** The first row it returns, or undefined. */
  first(db: Knex, params: readonly Param[]): Promise<Row | undefined>;
  /** Runs a write without RETURNING; resolves to how many rows it changed. */
  run(db: Knex, params: readonly Param[]): Promise<number>;
  /**
   * Runs an INSERT or UPDATE whose outcome the code does not read, inside `Store.write`'s
   * `trx`. On SQLite it is deferred and runs with the transaction's COMMIT, or earlier with the
   * next statement or query of the transaction that names a table it writes, in one trip
   * through the driver with whatever else waits (sqlite.ts, `deferOnSqlite`): so it resolves
   * at once, and if it fails, the write fails with its error at the commit. On PostgreSQL, or
   * outside a write, it runs now. A later query through `trx` that names the table still sees
   * its change (the waiting statements run first).
   *
   * With `expect.changes`, the statement must change exactly that many rows, or the write
   * fails with an UnexpectedChangesError (`isUnexpectedChanges`) and nothing of it is kept
   * (expected-changes.ts): for an update whose condition decides whether the write happens at
   * all, such as "only while the order is PENDING", without a trip to learn the answer.
   */
  defer(trx: Knex, params: readonly Param[], expect?: { changes: number }): Promise<void>;
}

interface PostgresResult<Row> {
  rows: Row[];
  rowCount: number | null;
}

/** See {@link Statement}. */
export function statement<Row = Record<string, unknown>>(sql: string): Statement<Row> {
  const all = async (db: Knex, params: readonly Param[]): Promise<Row[]> => {
    const direct = runOnSqlite(db, sql, params, true);
    if (direct) return (await direct) as Row[];
    const result = await db.raw<PostgresResult<Row>>(sql, params as Knex.RawBinding[]);
    return result.rows;
  };
  const run = async (db: Knex, params: readonly Param[]): Promise<number> => {
    const direct = runOnSqlite(db, sql, params, false);
    if (direct) return (await direct) as number;
    const result = await db.raw<PostgresResult<Row>>(sql, params as Knex.RawBinding[]);
    return result.rowCount ?? 0;
  };
  // Its form for deferral, read from the SQL once, at its first deferral on SQLite.
  let form: Deferrable | undefined;
  const deferred = (): Deferrable => (form ??= deferrable(sql));
  return {
    sql,
    all,
    first: async (db, params) => (await all(db, params))[0],
    run,
    async defer(trx, params, expect) {
      if (deferOnSqlite(trx, deferred, params, expect?.changes)) return;
      const changed = await run(trx, params);
      if (expect && changed !== expect.changes) {
        throw new UnexpectedChangesError(
          `a write changed ${changed} rows where it had to change ${expect.changes}, in ${sql}`,
        );
      }
    },
  };
}
