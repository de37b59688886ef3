import { pbkdf2 } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { StatusError } from "../../mesh";
import { createHashWorkers, type HashWorkers } from "./hash-workers";
import { DEFAULT_SCRYPT, deriveOnThreadPool, hashPassword, verifyPassword } from "./passwords";

// libuv's thread pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise.
const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
// Enough iterations to hold a pool thread for a good while on any machine.
const SLOW_PBKDF2_ITERATIONS = 3_000_000;

/** Occupies every libuv pool thread with a slow pbkdf2; resolves when all are done. */
function fillThreadPool(): Promise<number> {
  const jobs = Array.from(
    { length: POOL_THREADS },
    () =>
      new Promise<void>((resolve, reject) =>
        pbkdf2("x", "salt", SLOW_PBKDF2_ITERATIONS, 32, "sha256", (err) =>
          err ? reject(err) : resolve(),
        ),
      ),
  );
  return Promise.all(jobs).then(() => performance.now());
}

describe("password hashing on worker threads", () => {
  let workers: HashWorkers | undefined;
  afterEach(async () => {
    await workers?.close();
    workers = undefined;
  });

  test("a hash finishes while the libuv thread pool, which SQLite needs, is busy", async () => {
    workers = createHashWorkers({ size: 1 });
    const poolFree = fillThreadPool();
    const started = performance.now();
    const hash = await hashPassword("correct horse", DEFAULT_SCRYPT, workers.derive);
    const hashed = performance.now();
    const freed = await poolFree;

    console.log(
      `worker hash ${(hashed - started).toFixed(0)} ms; the pool was busy for ${(freed - started).toFixed(0)} ms`,
    );
    expect(hashed).toBeLessThan(freed);
    // The same key as Node's own scrypt: the stored hashes are interchangeable.
    expect(await verifyPassword("correct horse", hash, deriveOnThreadPool)).toBe(true);
    expect(await verifyPassword("correct horse!", hash, workers.derive)).toBe(false);
  }, 60_000);

  test("past the queue's bound a hash is refused at once with RESOURCE_EXHAUSTED", async () => {
    workers = createHashWorkers({ size: 1, maxQueued: 2 });
    const { derive } = workers;
    const salt = Buffer.alloc(16);
    const running = [1, 2, 3].map(() => derive("pw", salt, DEFAULT_SCRYPT));

    await expect(derive("pw", salt, DEFAULT_SCRYPT)).rejects.toEqual(
      new StatusError(status.RESOURCE_EXHAUSTED, "too many logins in progress; retry shortly"),
    );
    expect(workers.pending()).toBe(3);
    await Promise.all(running);
    expect(workers.pending()).toBe(0);
  }, 60_000);

  test("a waiting hash whose caller has gone leaves the queue without being computed", async () => {
    workers = createHashWorkers({ size: 1 });
    const { derive } = workers;
    const salt = Buffer.alloc(16);
    const running = derive("first", salt, DEFAULT_SCRYPT);
    const caller = new AbortController();
    const abandoned = derive("second", salt, DEFAULT_SCRYPT, caller.signal);
    const behind = derive("third", salt, DEFAULT_SCRYPT);
    expect(workers.pending()).toBe(3);

    caller.abort();

    await expect(abandoned).rejects.toEqual(
      new StatusError(status.CANCELLED, "the login's caller has gone"),
    );
    // Only the running hash and the one behind are left: the abandoned one costs nothing.
    expect(workers.pending()).toBe(2);
    await Promise.all([running, behind]);
    expect(workers.pending()).toBe(0);
    // A caller already gone is refused before it queues.
    await expect(derive("late", salt, DEFAULT_SCRYPT, caller.signal)).rejects.toEqual(
      new StatusError(status.CANCELLED, "the login's caller has gone"),
    );
  }, 60_000);
});
