import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knex, { type Knex } from "knex";
import type { Migration, StoreOptions } from "./store";
import { makeKnex, Sqlite3Client, SqliteTransaction } from "../internals/knex";
import { applyMigrations } from "./migrations";
import { literalTemplate, type Param } from "./literals";
import { callerContext } from "./caller-context";
import type { QueryObserver } from "../telemetry";
import { fromGuard, guardSql } from "./expected-changes";

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

/** node-sqlite3's prepared statement, as far as the cache below uses it. */
interface Statement {
  run(params: unknown[], done: (this: RunContext, err: Error | null) => void): void;
  all(params: unknown[], done: (err: Error | null, rows: unknown[]) => void): void;
  finalize(done: () => void): void;
}
interface RunContext {
  lastID: number;
  changes: number;
}
interface Connection {
  prepare(sql: string, done: (err: Error | null) => void): Statement;
  /** Runs every statement of `sql` in one trip through the thread pool; no bindings, no rows. */
  exec(sql: string, done: (err: Error | null) => void): void;
  close(done: (err: Error | null) => void): void;
}
/** What knex hands its dialect's `_query`. */
interface QueryObject {
  sql: string;
  bindings?: unknown[];
  method?: string;
  returning?: unknown;
  response?: unknown;
  context?: RunContext;
}

// Statements worth keeping prepared: the DML and transaction control a service repeats. DDL
// and PRAGMAs run once at start and take knex's one-off path.
const CACHEABLE =
  /^\s*(select|insert|update|delete|with|begin|commit|rollback|savepoint|release)\b/i;
// Distinct SQL texts kept per connection; `whereIn` lists of many lengths could grow it.
const MAX_PREPARED = 256;

/**
 * Prepared statements, kept per connection and reused. node-sqlite3's `Database#run/all`
 * prepare, step and finalize a new statement per query, and each of those is a trip through
 * the thread pool and back through the event loop; a kept statement binds and steps in one
 * trip. On a busy process every trip waits for the event loop, so a write transaction's
 * statements, not its fsync, were what bounded a store's writes per second.
 */
class PreparedStatements {
  private readonly ready = new Map<string, Statement>();

  /** The statement for `sql`, prepared on first use; rejects with SQLite's own error. */
  get(connection: Connection, sql: string): Statement | Promise<Statement> {
    const found = this.ready.get(sql);
    if (found) return found;
    return new Promise((resolve, reject) => {
      const statement = connection.prepare(sql, (err) => {
        if (err) return reject(err);
        if (this.ready.size >= MAX_PREPARED) this.evictOldest();
        this.ready.set(sql, statement);
        resolve(statement);
      });
    });
  }

  private evictOldest(): void {
    const [sql, statement] = this.ready.entries().next().value as [string, Statement];
    this.ready.delete(sql);
    statement.finalize(() => undefined);
  }

  /** Finalizes every statement: SQLite will not close a connection that still has some. */
  async finalizeAll(): Promise<void> {
    const statements = [...this.ready.values()];
    this.ready.clear();
    await Promise.all(statements.map((s) => new Promise<void>((done) => s.finalize(done))));
  }
}

/**
 * What the store keeps for one SQLite connection, by connection and not on knex's client:
 * knex runs a transaction's queries through a copy of the client made from its prototype,
 * without the client's own fields. One object found once per statement, where four weak maps
 * and sets were each read, and set and deleted per transaction (bench section d).
 */
class ConnectionState {
  /** Prepared statements, made on first use. */
  readonly prepared = new PreparedStatements();
  /** The knex pinned to this connection for write transactions, made on the first. */
  pinned: Knex | undefined = undefined;
  /** The store's own knex that `pinned` was made from: its probe times the statements. */
  db: Knex | undefined = undefined;
  /** While a write transaction holds the connection: the statements deferred in it. */
  deferred: Deferred[] | undefined = undefined;
  /** The write transaction has started without its BEGIN, which runs with its first trip. */
  beginPending = false;

  /** Whether BEGIN was pending, which it no longer is. */
  takeBegin(): boolean {
    const pending = this.beginPending;
    this.beginPending = false;
    return pending;
  }
}

const states = new WeakMap<Connection, ConnectionState>();

/** The state of `connection`, made on first use. */
function stateOf(connection: Connection): ConnectionState {
  let state = states.get(connection);
  if (!state) states.set(connection, (state = new ConnectionState()));
  return state;
}

/**
 * Runs `sql` on `connection` as a kept prepared statement: `all` for its rows, else `run`
 * for how many rows it changed (and the last rowid).
 */
function runPrepared(
  connection: Connection,
  state: ConnectionState,
  sql: string,
  bindings: readonly unknown[],
  rows: boolean,
): Promise<unknown[] | RunContext> {
  const execute = (statement: Statement): Promise<unknown[] | RunContext> =>
    new Promise((resolve, reject) => {
      if (rows) {
        statement.all(bindings as unknown[], (err, found) => (err ? reject(err) : resolve(found)));
      } else {
        statement.run(bindings as unknown[], function (err) {
          // Copied: the statement is reused, and its next run overwrites these.
          if (err) reject(err);
          else resolve({ lastID: this.lastID, changes: this.changes });
        });
      }
    });
  const statement = state.prepared.get(connection, sql);
  return statement instanceof Promise ? statement.then(execute) : execute(statement);
}

class ImmediateSqlite3Client extends Sqlite3Client {
  transaction(...args: unknown[]): object {
    return new ImmediateTransaction(this, ...args);
  }

  /** knex's sqlite3 `_query`, with statements kept prepared (see {@link PreparedStatements}). */
  override _query(connection: Connection, obj: QueryObject): Promise<QueryObject> {
    const state = stateOf(connection);
    // The write transaction's BEGIN, if it has not run yet, then this.
    const begin = beginNow(connection, state);
    if (begin) return begin.then(() => this._query(connection, obj));
    // A builder's query may read what a deferred statement writes: those run first.
    if (state.deferred?.length) {
      return flushDeferred(connection, state).then(() => this._query(connection, obj));
    }
    if (!CACHEABLE.test(obj.sql)) return super._query(connection, obj) as Promise<QueryObject>;
    // As knex's own: writes without RETURNING "run" (for lastID and changes), the rest "all".
    const run =
      obj.method === "del" ||
      obj.method === "counter" ||
      ((obj.method === "insert" || obj.method === "update") && !obj.returning);
    return runPrepared(connection, state, obj.sql, obj.bindings ?? [], !run).then((result) => {
      if (run) obj.context = result as RunContext;
      else obj.response = result;
      return obj;
    });
  }

  async destroyRawConnection(connection: Connection): Promise<void> {
    await states.get(connection)?.prepared.finalizeAll();
    states.delete(connection);
    await new Promise<void>((resolve, reject) =>
      connection.close((err) => (err ? reject(err) : resolve())),
    );
  }
}

/** Runs `body` in one write transaction; see {@link sqliteTransactions}. */
export type TransactionRunner = <T>(body: (trx: Knex) => Promise<T>) => Promise<T>;

/** The parts of knex's client that a pinned copy of it needs. */
interface KnexClient {
  acquireConnection(): Promise<Connection>;
  releaseConnection(connection: Connection): Promise<unknown>;
  emit(event: string, ...args: unknown[]): boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

const FORWARDED_EVENTS = ["start", "query", "query-error", "query-response"];

/**
 * A knex whose every query runs on `connection`: a copy of `db`'s client that acquires that
 * connection and never releases it, built once per connection and reused (knex's own
 * transactions build one per transaction). Its query events are re-emitted on `db`'s client,
 * so that `db.on("query")` listeners (telemetry, tests) see them.
 */
function pinnedKnex(db: Knex, connection: Connection): Knex {
  const client = db.client as KnexClient & Record<string, unknown>;
  const pinned = Object.create(Object.getPrototypeOf(client) as object) as KnexClient &
    Record<string, unknown>;
  for (const key of [
    "config",
    "version",
    "driver",
    "connectionSettings",
    "valueForUndefined",
    "logger",
  ]) {
    pinned[key] = client[key];
  }
  // Nested knex transactions become savepoints, as inside knex's own transactions.
  pinned.transacting = true;
  pinned.acquireConnection = () => Promise.resolve(connection);
  pinned.releaseConnection = () => Promise.resolve();
  for (const event of FORWARDED_EVENTS) {
    pinned.on(event, (...args: unknown[]) => client.emit(event, ...args));
  }
  const trx = makeKnex(pinned);
  pinnedConnection.set(trx, { connection, state: stateOf(connection) });
  return trx;
}

/** A pinned knex's connection, and its state. */
interface Pinned {
  connection: Connection;
  state: ConnectionState;
}
const pinnedConnection = new WeakMap<Knex, Pinned>();

// The probe of each store's statements (telemetry's), by the store's own knex.
const observers = new WeakMap<Knex, QueryObserver>();

/** Has `observer` time and trace the statements run on `db` (and its transactions) without knex. */
export function observeStatements(db: Knex, observer: QueryObserver): void {
  observers.set(db, observer);
}

/** Runs `sql` on `connection`, watched by `observer` if there is one: rows, or rows changed. */
function runObserved(
  observer: QueryObserver | undefined,
  connection: Connection,
  state: ConnectionState,
  sql: string,
  bindings: readonly unknown[],
  rows: boolean,
): Promise<unknown[] | number> {
  const end = observer?.start(sql);
  const done = (result: unknown[] | RunContext): unknown[] | number => {
    end?.(true);
    return rows ? (result as unknown[]) : (result as RunContext).changes;
  };
  const failed = (err: unknown): never => {
    end?.(false);
    throw err;
  };
  return runPrepared(connection, state, sql, bindings, rows).then(done, failed);
}

/** knex's pool, as far as {@link ConnectionLease} asks it. */
interface PoolView {
  numPendingAcquires(): number;
}

/**
 * The store's one connection, taken from knex's pool for the store's own work (write
 * transactions and prepared statements, one at a time) and kept while more of that work
 * follows: taking it from the pool costs a pending operation and a timer each time, which
 * showed in profiles of one-row writes. It goes back to the pool as soon as a knex query waits
 * there for it, and otherwise when the work pauses (at the next turn of the event loop).
 */
class ConnectionLease {
  private connection: Connection | undefined;
  private busy = false;
  private readonly waiting: (() => void)[] = [];
  private releaseQueued = false;
  private closing = false;

  constructor(private readonly client: KnexClient & { pool?: PoolView }) {}

  async use<T>(work: (connection: Connection) => Promise<T>): Promise<T> {
    if (this.busy) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy = true;
    try {
      this.connection ??= await this.client.acquireConnection();
      return await work(this.connection);
    } finally {
      this.handOn();
    }
  }

  /** The store closes: the connection goes back now, or when the work holding it ends. */
  close(): void {
    this.closing = true;
    if (!this.busy) this.release();
  }

  private release(): void {
    const connection = this.connection;
    this.connection = undefined;
    if (connection) void this.client.releaseConnection(connection);
  }

  private handOn(): void {
    // A knex query waiting in the pool goes first; the next user here takes it back after.
    if (this.closing || (this.client.pool?.numPendingAcquires() ?? 0) > 0) this.release();
    const next = this.waiting.shift();
    if (next) return next();
    this.busy = false;
    if (this.connection && !this.releaseQueued) {
      this.releaseQueued = true;
      setImmediate(() => {
        this.releaseQueued = false;
        if (!this.busy) this.release();
      });
    }
  }
}

const leases = new WeakMap<Knex, ConnectionLease>();

function leaseOf(db: Knex): ConnectionLease {
  let lease = leases.get(db);
  if (!lease) leases.set(db, (lease = new ConnectionLease(db.client as KnexClient)));
  return lease;
}

/** Gives back the connection the store's own work holds, before its knex is destroyed. */
export function releaseConnection(db: Knex): void {
  leases.get(db)?.close();
}

/**
 * Runs `sql` with `bindings` straight on the SQLite connection `db` queries on (a knex pinned
 * by a write transaction, or the store's own knex, whose one connection is leased from its
 * pool): the rows, or how many rows changed. Undefined when `db` is not a SQLite store's knex.
 * See statement.ts.
 */
export function runOnSqlite(
  db: Knex,
  sql: string,
  bindings: readonly unknown[],
  rows: boolean,
): Promise<unknown[] | number> | undefined {
  const pinned = pinnedConnection.get(db);
  if (pinned) {
    const begin = beginNow(pinned.connection, pinned.state);
    if (begin) return begin.then(() => runOnSqlite(db, sql, bindings, rows)!);
    const observer = observerOf(pinned.state);
    if (touchesDeferred(pinned.state, sql)) {
      return flushDeferred(pinned.connection, pinned.state).then(() =>
        runObserved(observer, pinned.connection, pinned.state, sql, bindings, rows),
      );
    }
    return runObserved(observer, pinned.connection, pinned.state, sql, bindings, rows);
  }
  if (!(db.client instanceof ImmediateSqlite3Client)) return undefined;
  return leaseOf(db).use((connection) =>
    runObserved(observers.get(db), connection, stateOf(connection), sql, bindings, rows),
  );
}

/**
 * A statement deferred inside a write transaction (see {@link deferOnSqlite}): its SQL with
 * the values written in, what names the tables it writes, and the start of its observation,
 * made in the async context of the code that deferred it so that its span has that code's
 * parent.
 */
interface Deferred {
  sql: string;
  touches: RegExp;
  /** Its SQL as written, with `?`, when a guard follows it (expected-changes.ts). */
  guarded: string | undefined;
  observe: (() => ((ok: boolean) => void) | undefined) | undefined;
}

// What a deferred statement may be: an INSERT or an UPDATE, whose table is its first name.
const WRITES_TO = /^\s*(?:insert\s+into|update)\s+["`[]?(\w+)/i;
// Statements that mark or end a part of the transaction: deferred statements run before them.
const TRANSACTION_CONTROL = /^\s*(savepoint|release|rollback|commit)\b/i;

/** What deferring one SQL text takes, worked out once per statement (statement.ts). */
export interface Deferrable {
  sql: string;
  /** The SQL with its `?` filled with literals. */
  fill: (values: readonly Param[]) => string;
  /** Matches SQL that names a table the insert writes. */
  touches: RegExp;
}

/** @throws Error when `sql` is not an INSERT or an UPDATE. */
export function deferrable(sql: string): Deferrable {
  const table = WRITES_TO.exec(sql)?.[1];
  if (!table) throw new Error(`only an INSERT or an UPDATE can be deferred, not: ${sql}`);
  return {
    sql,
    fill: literalTemplate(sql),
    // AUTOINCREMENT's counter lives in sqlite_sequence, which the insert also writes.
    touches: new RegExp(`\\b(?:${table}|sqlite_sequence)\\b`, "i"),
  };
}

/** Does `sql` name a table that a statement deferred on the connection writes? */
function touchesDeferred(state: ConnectionState, sql: string): boolean {
  const deferred = state.deferred;
  if (!deferred?.length) return false;
  return TRANSACTION_CONTROL.test(sql) || deferred.some(({ touches }) => touches.test(sql));
}

/**
 * Runs the statements deferred on `connection`, then `then` (COMMIT) if given, in one trip
 * through the thread pool (node-sqlite3's `exec`, which runs SQLite's sqlite3_exec). SQLite
 * stops at the first statement that fails; the transaction stays open for the caller's
 * ROLLBACK, and the error is the failing statement's (an UnexpectedChangesError when it was a
 * guard: expected-changes.ts).
 */
function flushDeferred(
  connection: Connection,
  state: ConnectionState,
  then?: { sql: string; observer: QueryObserver | undefined },
): Promise<void> {
  const deferred = state.deferred ?? [];
  state.deferred = [];
  const texts = deferred.map((d) => d.sql);
  const ends = deferred.map((d) => d.observe?.());
  // The transaction's BEGIN, if nothing has needed it yet, goes first in the same trip.
  if (state.takeBegin()) {
    texts.unshift(BEGIN);
    ends.unshift(observerOf(state)?.start(BEGIN));
  }
  if (then) {
    texts.push(then.sql);
    ends.push(then.observer?.start(then.sql));
  }
  return new Promise<void>((resolve, reject) =>
    connection.exec(texts.join(";\n"), (err) => {
      for (const end of ends) end?.(!err);
      if (err) reject(fromGuard(err, guardedOf(deferred)));
      else resolve();
    }),
  );
}

const guardedOf = (deferred: readonly Deferred[]): string[] =>
  deferred.flatMap(({ guarded }) => (guarded === undefined ? [] : [guarded]));

/**
 * Defers an INSERT or UPDATE whose result nobody needs to the next trip that must run anyway, when `db`
 * is a write transaction's knex on SQLite: the transaction's COMMIT, or an earlier statement
 * or query that names a table it writes (which would read or change what it writes), or a
 * savepoint's end. All that are waiting then run with it in one trip through the thread pool
 * instead of one trip each (bench section c: on a busy machine each trip costs several
 * context switches). The values are written into the SQL as literals (literals.ts), since
 * a batch of statements takes no bindings. `statement` gives the statement's
 * {@link deferrable} form, made on its first deferral. With `changes`, a guard follows it in
 * the batch and fails the write unless it changed exactly that many rows
 * (expected-changes.ts). Returns false when `db` is not in such a transaction: the caller
 * runs the statement itself.
 */
export function deferOnSqlite(
  db: Knex,
  statement: () => Deferrable,
  bindings: readonly Param[],
  changes?: number,
): boolean {
  const pinned = pinnedConnection.get(db);
  // Not inside a write transaction (a trx kept past its end runs statements at once, too).
  const deferred = pinned?.state.deferred;
  if (!deferred) return false;
  const { sql, fill, touches } = statement();
  const observer = observerOf(pinned.state);
  const inCaller = observer && callerContext();
  const filled = fill(bindings);
  deferred.push({
    sql: changes === undefined ? filled : `${filled};\n${guardSql(changes)}`,
    touches,
    guarded: changes === undefined ? undefined : sql,
    observe: inCaller && (() => inCaller((text: string) => observer.start(text), sql)),
  });
  return true;
}

/**
 * Runs the statements deferred in the write transaction `trx` now (group commit ends each
 * write this way when the writes of a group run in savepoints, so that a failing deferred
 * statement fails its own write). Resolves at once when nothing is deferred or `trx` is not a
 * SQLite write transaction.
 */
export function runDeferred(trx: Knex): Promise<void> {
  const pinned = pinnedConnection.get(trx);
  if (!pinned?.state.deferred?.length) return Promise.resolve();
  return flushDeferred(pinned.connection, pinned.state);
}

/** Drops the statements deferred in `trx` without running them (before a ROLLBACK TO). */
export function dropDeferred(trx: Knex): void {
  const state = pinnedConnection.get(trx)?.state;
  if (state?.deferred) state.deferred = [];
}

const BEGIN = "BEGIN IMMEDIATE";
const COMMIT = "COMMIT";
const ROLLBACK = "ROLLBACK";

/** The probe of the store the connection is pinned for, if any. */
const observerOf = (state: ConnectionState): QueryObserver | undefined =>
  state.db && observers.get(state.db);

/**
 * Runs the pending BEGIN of the write transaction on `connection`, a trip of its own, when a
 * statement whose answer the transaction needs comes first; undefined when it has run.
 */
function beginNow(connection: Connection, state: ConnectionState): Promise<void> | undefined {
  if (!state.takeBegin()) return undefined;
  return runObserved(observerOf(state), connection, state, BEGIN, [], false).then(() => undefined);
}

/**
 * Write transactions on a SQLite store without knex's transaction machinery, which builds a
 * client, a knex instance and a promise chain per transaction: more CPU than a one-row write
 * itself (bench section d). Takes the store's one connection from the pool (so reads wait,
 * as they did for knex's transactions; see {@link ConnectionLease}), runs BEGIN IMMEDIATE,
 * `body` with a knex pinned to that connection, and COMMIT; ROLLBACK if `body` or COMMIT fails.
 *
 * BEGIN IMMEDIATE waits for the transaction's first trip to the thread pool: the first
 * statement whose answer `body` needs runs it just before (a trip of its own, as it always
 * was), and a transaction whose statements are all deferred (Statement.defer) sends BEGIN,
 * them and COMMIT in one trip. Nothing runs between BEGIN and the first statement either way,
 * so the transaction and its write lock are the same; a `body` that runs no statement at all
 * starts no transaction.
 */
export function sqliteTransactions(db: Knex): TransactionRunner {
  const lease = leaseOf(db);
  return <T>(body: (trx: Knex) => Promise<T>): Promise<T> =>
    lease.use(async (connection) => {
      const state = stateOf(connection);
      if (!state.pinned) {
        state.pinned = pinnedKnex(db, connection);
        state.db = db;
      }
      const trx = state.pinned;
      const control = (sql: string) => runOnSqlite(trx, sql, [], false)!;
      state.beginPending = true;
      state.deferred = [];
      try {
        const result = await body(trx);
        // The deferred statements and COMMIT in one trip (with BEGIN if it has not run), or
        // COMMIT alone, or nothing when no statement ran.
        if (state.deferred?.length) {
          await flushDeferred(connection, state, { sql: COMMIT, observer: observers.get(db) });
        } else if (!state.beginPending) {
          await control(COMMIT);
        }
        return result;
      } catch (err) {
        // Deferred statements not run yet are dropped with the rest of the transaction.
        state.deferred = undefined;
        // A failed COMMIT may leave the transaction open (SQLITE_BUSY); a rolled-back one, or
        // a BEGIN that failed in the trip it went with, makes this ROLLBACK fail, which
        // changes nothing. No ROLLBACK when BEGIN never ran.
        if (!state.takeBegin()) await control(ROLLBACK).catch(() => undefined);
        throw err;
      } finally {
        state.deferred = undefined;
        state.beginPending = false;
      }
    });
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
