import type { Knex } from "knex";
import { callerContext } from "./caller-context";
import { dropDeferred, runDeferred, type TransactionRunner } from "./sqlite";
import { statement } from "./statement";

/** Runs `work` in a write transaction; see {@link createGroupCommit}. */
export type WriteFn = <T>(work: (trx: Knex) => Promise<T>) => Promise<T>;

/** A write waiting for its turn, with what settles its caller's promise. */
interface Queued {
  work: (trx: Knex) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** Most writes one commit carries, so that one group never holds the write lock for long. */
export const MAX_GROUP_SIZE = 64;

// One name serves every write of a group: each is released before the next one starts.
const SAVEPOINT = statement("SAVEPOINT mesh_write");
const ROLLBACK_TO = statement("ROLLBACK TO mesh_write");
const RELEASE = statement("RELEASE mesh_write");

/**
 * Group commit: writes that queue up while a commit is in progress are run together in the
 * next transaction and committed once. With synchronous FULL a commit costs an fsync, so n
 * queued writes cost one fsync instead of n. Every caller's promise settles only after the
 * COMMIT that made its write durable (or failed). A write that arrives while the store is
 * idle runs at once, alone, with no added wait. This is how PostgreSQL's commit_delay and
 * InnoDB's binlog group commit share an fsync.
 *
 * A group first runs its writes back to back, nothing between them: on a busy process each
 * statement waits a turn of the event loop, so every statement saved counts. If any write
 * throws (or the commit fails), the whole transaction rolls back and the group runs again
 * with each write inside its own SAVEPOINT, so that a failing write rolls back alone and
 * rejects with its error while the others commit. A write's work may therefore run twice; it
 * must act only through `trx` and its return value, as Store.write asks.
 *
 * A write's deferred inserts (Statement.defer) wait for the group's COMMIT; in the savepoint
 * run each write runs its own before its savepoint ends, so that one that fails fails its
 * write alone.
 *
 * The savepoints are plain statements rather than knex's nested transactions, which cost a
 * transaction object and a connection hand-over per write. Each write runs in the async
 * context of its caller, not of the call that happened to start the group, so its queries
 * are traced under its own call.
 */
export function createGroupCommit(
  transaction: TransactionRunner,
  maxGroup = MAX_GROUP_SIZE,
): WriteFn {
  const queue: Queued[] = [];
  let draining = false;

  /** Every write in one transaction, or none of them: false if anything failed. */
  const runTogether = async (group: Queued[]): Promise<boolean> => {
    const values: unknown[] = [];
    try {
      await transaction(async (trx) => {
        for (const { work } of group) values.push(await work(trx));
      });
    } catch {
      return false;
    }
    group.forEach((q, i) => q.resolve(values[i]));
    return true;
  };

  /** Each write in its own savepoint of one transaction: a failing one fails alone. */
  const runIsolated = async (group: Queued[]): Promise<void> => {
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      await transaction(async (trx) => {
        for (const { work } of group) {
          await SAVEPOINT.run(trx, []);
          try {
            const value = await work(trx);
            // Its deferred statements (Statement.defer) run inside its savepoint: if one
            // fails, this write fails alone.
            await runDeferred(trx);
            outcomes.push({ ok: true, value });
          } catch (err) {
            dropDeferred(trx);
            await ROLLBACK_TO.run(trx, []);
            outcomes.push({ ok: false, value: err });
          }
          await RELEASE.run(trx, []);
        }
      });
    } catch (err) {
      // BEGIN, a savepoint or COMMIT failed: nothing of the group is durable, so every write fails.
      for (const q of group) q.reject(err);
      return;
    }
    group.forEach((q, i) =>
      outcomes[i].ok ? q.resolve(outcomes[i].value) : q.reject(outcomes[i].value),
    );
  };

  const runGroup = async (group: Queued[]): Promise<void> => {
    if (group.length === 1) {
      const [only] = group;
      await transaction(only.work).then(only.resolve, only.reject);
    } else if (!(await runTogether(group))) {
      await runIsolated(group);
    }
  };

  const drain = async (): Promise<void> => {
    draining = true;
    while (queue.length > 0) await runGroup(queue.splice(0, maxGroup));
    draining = false;
  };

  return <T>(work: (trx: Knex) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      // In the caller's async context, whichever call's turn runs the group.
      const inCallerContext = callerContext();
      queue.push({
        work: (trx) => inCallerContext(work, trx),
        resolve: (value) => resolve(value as T),
        reject,
      });
      if (!draining) void drain();
    });
}
