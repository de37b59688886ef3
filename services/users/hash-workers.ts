import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { status } from "@grpc/grpc-js";
import { StatusError } from "../../mesh";
import type { Derive, ScryptParams } from "./passwords";

/**
 * The worker's code: scrypt, synchronously, on the worker's own thread. Node's async scrypt
 * runs on the libuv thread pool (4 threads), which the SQLite driver needs for every query:
 * a login flood there stalled every order (issue 15). Evaluated, so that it runs the same
 * from ts-node, jest and dist/.
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", ({ id, password, salt, keyBytes, options }) => {
  try {
    const key = scryptSync(password, Buffer.from(salt), keyBytes, options);
    parentPort.postMessage({ id, key });
  } catch (err) {
    parentPort.postMessage({ id, error: String(err && err.message || err) });
  }
});
`;

/** Options for {@link createHashWorkers}. */
export interface HashWorkersOptions {
  /** Worker threads. Defaults to half the CPUs (at least 1): the rest serve calls. */
  size?: number;
  /** Hashes waiting for a worker before more are refused. Defaults to 32. */
  maxQueued?: number;
}

/** A pool of worker threads that derive scrypt keys; see {@link createHashWorkers}. */
export interface HashWorkers {
  readonly derive: Derive;
  /** Hashes running or waiting. */
  pending(): number;
  close(): Promise<void>;
}

interface Job {
  id: number;
  password: string;
  salt: Buffer;
  params: ScryptParams;
  resolve(key: Buffer): void;
  reject(err: Error): void;
  /** Stops listening to the caller's signal: the job runs now, or is done. */
  release(): void;
}

const KEY_BYTES = 32;
const DEFAULT_MAX_QUEUED = 32;

/** What a hash whose caller has gone (deadline passed, cancelled) is rejected with. */
const callerGone = () => new StatusError(status.CANCELLED, "the login's caller has gone");

/**
 * Derives password keys on up to `size` worker threads, started when hashes first need them,
 * one hash per worker at a time: hashing never takes the libuv thread pool, and never more CPU
 * than its workers. A hash asked for
 * while `maxQueued` already wait is refused with RESOURCE_EXHAUSTED at once. A waiting hash
 * whose caller's signal aborts leaves the queue unhashed: the login flood test showed logins
 * whose deadline had passed still holding the workers for seconds on a loaded machine,
 * delaying the logins behind them. A running hash is finished (scrypt cannot be stopped).
 */
export function createHashWorkers(options: HashWorkersOptions = {}): HashWorkers {
  const size = options.size ?? Math.max(1, Math.floor(availableParallelism() / 2));
  const maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
  const queue: Job[] = [];
  const busy = new Map<Worker, Job>();
  const idle: Worker[] = [];
  let nextId = 0;

  const run = (worker: Worker, job: Job): void => {
    job.release();
    busy.set(worker, job);
    worker.ref();
    worker.postMessage({
      id: job.id,
      password: job.password.normalize("NFKC"),
      salt: job.salt,
      keyBytes: KEY_BYTES,
      // scrypt needs 128 · N · r bytes; Node refuses more than maxmem (32 MiB by default).
      options: { ...job.params, maxmem: 256 * job.params.N * job.params.r },
    });
  };
  const next = (worker: Worker): void => {
    const job = queue.shift();
    if (job) run(worker, job);
    else {
      // An idle pool keeps no process alive.
      worker.unref();
      idle.push(worker);
    }
  };
  const workers: Worker[] = [];
  // A worker is a whole V8 isolate (about 10 MB resident): started on the first hash that
  // finds none idle, up to `size`, so that a users process nobody logs in to keeps none.
  const spawnWorker = (): Worker => {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.on("message", (reply: { id: number; key?: Uint8Array; error?: string }) => {
      const job = busy.get(worker);
      busy.delete(worker);
      if (job) {
        if (reply.key) job.resolve(Buffer.from(reply.key));
        else job.reject(new Error(reply.error ?? "scrypt failed"));
      }
      next(worker);
    });
    worker.on("error", (err) => {
      busy.get(worker)?.reject(err);
      busy.delete(worker);
    });
    // One that died fails its hash, if it had one, and makes room for a new one.
    worker.on("exit", () => {
      busy.get(worker)?.reject(new Error("hash worker exited"));
      busy.delete(worker);
      for (const list of [workers, idle]) {
        const at = list.indexOf(worker);
        if (at >= 0) list.splice(at, 1);
      }
    });
    workers.push(worker);
    return worker;
  };

  return {
    derive: (password, salt, params, signal) =>
      new Promise<Buffer>((resolve, reject) => {
        if (signal?.aborted) return reject(callerGone());
        const onAbort = () => {
          const at = queue.indexOf(job);
          if (at < 0) return;
          queue.splice(at, 1);
          reject(callerGone());
        };
        const job: Job = {
          id: nextId++,
          password,
          salt,
          params,
          resolve,
          reject,
          release: () => signal?.removeEventListener("abort", onAbort),
        };
        const worker = idle.pop() ?? (workers.length < size ? spawnWorker() : undefined);
        if (worker) return run(worker, job);
        if (queue.length >= maxQueued) {
          reject(
            new StatusError(
              status.RESOURCE_EXHAUSTED,
              "too many logins in progress; retry shortly",
            ),
          );
          return;
        }
        queue.push(job);
        signal?.addEventListener("abort", onAbort, { once: true });
      }),
    pending: () => busy.size + queue.length,
    async close() {
      for (const job of queue.splice(0)) {
        job.release();
        job.reject(new Error("hash workers closed"));
      }
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
