/**
 * Counts the trips SQLite connections make through node-sqlite3 from now on: each prepared
 * statement's run and each exec of a batch, the hand-offs to its thread pool that bench
 * section c counts. Returns the count so far; the wrapping is undone after the test.
 */
export function countTrips(): () => number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sqlite3 = require("sqlite3") as {
    Database: { prototype: Record<string, unknown> };
    Statement: { prototype: Record<string, unknown> };
  };
  let trips = 0;
  const wrap = (proto: Record<string, unknown>, name: string) => {
    const original = proto[name] as (...args: unknown[]) => unknown;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      trips++;
      return original.apply(this, args);
    };
    restores.push(() => (proto[name] = original));
  };
  wrap(sqlite3.Statement.prototype, "run");
  wrap(sqlite3.Statement.prototype, "all");
  wrap(sqlite3.Database.prototype, "exec");
  return () => trips;
}

const restores: (() => void)[] = [];
afterEach(() => restores.splice(0).forEach((restore) => restore()));
