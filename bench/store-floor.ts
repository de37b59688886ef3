/**
 * Section c's store floor: the least node-sqlite3 work a PlaceOrder needs to be as durable as
 * the services make it, and nothing else: no knex, no store, no spans, no business logic. Per
 * order inventory and payments each write one row durably and orders two, its PENDING record
 * before any call and the outcome after (what recovery needs); users reads nothing, as users
 * never change and its store answers a user read once from memory (services/users/store.ts).
 * Writes that arrive while a commit is in flight are committed together in the next group,
 * as the stores do (mesh/store/group-commit.ts), and a whole group is one trip to
 * sqlite3's thread pool: `BEGIN IMMEDIATE; INSERT …; COMMIT` in one exec and one fsync (WAL,
 * synchronous FULL). Nothing with this driver can do a durable order in fewer trips: the real
 * stores need more, since their statements' answers decide what the next one does.
 * graph-server.ts runs it in each member of the floor graph (`--floor`) before answering.
 */
import { MAX_GROUP_SIZE } from "../mesh/store";
import { DURABLE_PRAGMAS, execRaw, openRawDatabase } from "./raw-sqlite";

/** One member's share of the floor. */
export interface StoreFloor {
  /** One row written durably: resolves once the COMMIT that carried it has returned. */
  write(): Promise<void>;
  /** Groups committed so far. */
  readonly commits: number;
  close(): Promise<void>;
}

interface Waiting {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Opens the floor's own SQLite file `file` (created if need be). */
export async function openStoreFloor(file: string): Promise<StoreFloor> {
  const db = openRawDatabase(file);
  await execRaw(
    db,
    `${DURABLE_PRAGMAS} CREATE TABLE IF NOT EXISTS floor_rows ` +
      "(id INTEGER PRIMARY KEY, create_time INTEGER NOT NULL)",
  );
  const queue: Waiting[] = [];
  let committing = false;
  let commits = 0;

  const commitNext = (): void => {
    if (committing || queue.length === 0) return;
    committing = true;
    const group = queue.splice(0, MAX_GROUP_SIZE);
    // Integers written as literals: exec takes no bindings.
    const insert = `INSERT INTO floor_rows (create_time) VALUES (${Date.now()});`;
    db.exec(`BEGIN IMMEDIATE; ${insert.repeat(group.length)} COMMIT;`, (err) => {
      const settle = (): void => {
        committing = false;
        for (const waiting of group) {
          if (err) waiting.reject(err);
          else waiting.resolve();
        }
        commitNext();
      };
      // exec stops at the failing statement: what it began must not stay open.
      if (err) return db.exec("ROLLBACK", settle);
      commits++;
      settle();
    });
  };

  return {
    write: () =>
      new Promise((resolve, reject) => {
        queue.push({ resolve, reject });
        commitNext();
      }),
    get commits() {
      return commits;
    },
    close: () => new Promise((resolve) => db.close(resolve)),
  };
}
