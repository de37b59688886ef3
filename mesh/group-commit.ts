import type { Knex } from "knex";

/** Runs `work` in a write transaction; see {@link createGroupCommit}. */
export type WriteFn = <T>(work: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;

/** A write waiting for its turn, with what settles its caller's promise. */
interface Queued {
  work: (trx: Knex.Transaction) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

/** Most writes one commit carries, so that one group never holds the write lock for long. */
export const MAX_GROUP_SIZE = 64;

/**
 * Group commit: writes that queue up while a commit is in progress are run together in the
 * next transaction, each inside its own SAVEPOINT, and committed once. With synchronous FULL
 * a commit costs an fsync, so n queued writes cost one fsync instead of n. A write that fails
 * is rolled back to its savepoint and rejects alone; the others still commit. Every caller's
 * promise settles only after the COMMIT that made its write durable (or failed). A write that
 * arrives while the store is idle runs at once, alone, with no savepoint and no added wait.
 * This is how PostgreSQL's commit_delay and InnoDB's binlog group commit share an fsync.
 */
export function createGroupCommit(db: Knex, maxGroup = MAX_GROUP_SIZE): WriteFn {
  const queue: Queued[] = [];
  let draining = false;

  const runGroup = async (group: Queued[]): Promise<void> => {
    if (group.length === 1) {
      const [only] = group;
      await db.transaction(only.work).then(only.resolve, only.reject);
      return;
    }
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      await db.transaction(async (trx) => {
        for (const { work } of group) {
          // A nested knex transaction is a SAVEPOINT: a failure undoes this write only.
          await trx.transaction(work).then(
            (value) => outcomes.push({ ok: true, value }),
            (value: unknown) => outcomes.push({ ok: false, value }),
          );
        }
      });
    } catch (err) {
      // BEGIN or COMMIT failed: nothing of the group is durable, so every write fails.
      for (const q of group) q.reject(err);
      return;
    }
    group.forEach((q, i) =>
      outcomes[i].ok ? q.resolve(outcomes[i].value) : q.reject(outcomes[i].value),
    );
  };

  const drain = async (): Promise<void> => {
    draining = true;
    while (queue.length > 0) await runGroup(queue.splice(0, maxGroup));
    draining = false;
  };

  return <T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve: (value) => resolve(value as T), reject });
      if (!draining) void drain();
    });
}
