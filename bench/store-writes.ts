import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Knex } from "knex";
import { openStore, statement, type Migration, type Store } from "../mesh";
import { spawnNode } from "./child";
import { benchScript, type BenchConfig } from "./config";
import { DURABLE_PRAGMAS, execRaw, openRawDatabase, type RawStatement } from "./raw-sqlite";
import type { SectionResult } from "./report";
import { LatencyRecorder, median, nowMs, round3 } from "../scripts/stats";

const benchTable: Migration = {
  name: "20261126000000_bench_rows",
  up: (db: Knex) =>
    db.schema.createTable("bench_rows", (t) => {
      t.increments("id");
      t.string("request_id").notNullable().unique();
      t.string("payload").notNullable();
      t.bigInteger("create_time").notNullable();
    }),
  down: (db: Knex) => db.schema.dropTable("bench_rows"),
};

const PAYLOAD = "x".repeat(200);
// Writers queued at once in the concurrent variant: requests arriving together.
const CONCURRENT_WRITERS = 16;

/** One write path: how many rows it wrote, how long each commit took, the CPU it used. */
interface WritePath {
  name: string;
  rows: number;
  elapsedMs: number;
  commits: LatencyRecorder;
  /** Process CPU (sqlite3's worker threads included) per row, in microseconds. */
  cpuUsPerRow: number;
}

const rowsPerSecond = (p: WritePath): number => (p.rows * 1000) / p.elapsedMs;

let sequence = 0;
const row = () => ({
  request_id: `req-${sequence++}`,
  payload: PAYLOAD,
  create_time: Date.now(),
});

async function timed(
  name: string,
  rows: number,
  commits: number,
  concurrency: number,
  commit: () => Promise<unknown>,
): Promise<WritePath> {
  const latencies = new LatencyRecorder(commits);
  let next = 0;
  const cpu = process.cpuUsage();
  const began = nowMs();
  const worker = async (): Promise<void> => {
    while (next++ < commits) {
      const start = nowMs();
      await commit();
      latencies.record(nowMs() - start);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = nowMs() - began;
  const used = process.cpuUsage(cpu);
  return {
    name,
    rows,
    elapsedMs,
    commits: latencies,
    cpuUsPerRow: (used.user + used.system) / rows,
  };
}

async function withStore<T>(
  durability: "full" | "normal",
  work: (store: Store) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "bench-store-"));
  const store = await openStore({
    file: join(dir, "bench.sqlite"),
    migrations: [benchTable],
    durability,
  });
  try {
    return await work(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A one-row write path to compare: one commit per call. */
interface OneRowWriter {
  insertOne(): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The floor under the store: the same one-row transactions with node-sqlite3's prepared
 * statements and nothing else (BEGIN IMMEDIATE, INSERT, COMMIT), same pragmas as
 * mesh/store/sqlite.ts.
 */
async function openRawDriver(): Promise<OneRowWriter> {
  const dir = mkdtempSync(join(tmpdir(), "bench-store-"));
  const db = openRawDatabase(join(dir, "raw.sqlite"));
  await execRaw(
    db,
    // The table benchTable's migration makes, as knex writes it for SQLite (AUTOINCREMENT
    // and all): both paths write the same rows into the same schema.
    DURABLE_PRAGMAS +
      " " +
      "CREATE TABLE `bench_rows` (`id` integer not null primary key autoincrement, " +
      "`request_id` varchar(255) not null, `payload` varchar(255) not null, " +
      "`create_time` bigint not null); " +
      "CREATE UNIQUE INDEX `bench_rows_request_id_unique` on `bench_rows` (`request_id`)",
  );
  const run = (statement: RawStatement, params: unknown[] = []) =>
    new Promise<void>((resolve, reject) =>
      statement.run(params, (err) => (err ? reject(err) : resolve())),
    );
  const begin = db.prepare("BEGIN IMMEDIATE");
  const insert = db.prepare(INSERT_ROW_SQL);
  const commit = db.prepare("COMMIT");
  return {
    async insertOne() {
      const r = row();
      await run(begin);
      await run(insert, [r.request_id, r.payload, r.create_time]);
      await run(commit);
    },
    async close() {
      await new Promise<void>((resolve) => db.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const INSERT_ROW_SQL = "INSERT INTO bench_rows (request_id, payload, create_time) VALUES (?, ?, ?)";
// The services' hot-path writes: a prepared statement through Store.write.
const INSERT_ROW = statement(INSERT_ROW_SQL);

/**
 * Store.write with a prepared statement, as the services write on their hot paths; or, with
 * `deferred`, the insert deferred to the commit (Statement.defer), as the services write what
 * they do not read back: one trip for BEGIN and one for the insert and COMMIT, instead of three.
 */
async function openStoreWriter(deferred = false): Promise<OneRowWriter> {
  const dir = mkdtempSync(join(tmpdir(), "bench-store-"));
  const store = await openStore({
    file: join(dir, "bench.sqlite"),
    migrations: [benchTable],
    durability: "full",
  });
  return {
    insertOne() {
      const r = row();
      const params = [r.request_id, r.payload, r.create_time];
      return store.write<unknown>((trx) =>
        deferred ? INSERT_ROW.defer(trx, params) : INSERT_ROW.run(trx, params),
      );
    },
    async close() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Commits one row after another through `writer` for `ms` milliseconds, unmeasured. */
async function warmUp(writer: OneRowWriter, ms: number): Promise<void> {
  const until = nowMs() + ms;
  while (nowMs() < until) await writer.insertOne();
}

/**
 * One writer's one-row commits through the store (an insert run at once, and one deferred to
 * the commit) and through node-sqlite3 alone, side by side: `rounds` rounds of `rows` commits
 * each (the order rotates), after `warmupMs` of each, as long as the other sections warm up:
 * the store's path is more code than the driver's, and until the JIT has compiled it
 * (thousands of writes) it runs slower than it will for the rest of a service's life. Returns
 * the median rate and CPU of the rounds, and the median of each round's own store / driver ratio.
 */
async function storeVersusDriver(
  rounds: number,
  rows: number,
  warmupMs: number,
): Promise<{ store: WritePath; deferred: WritePath; driver: WritePath; withinRounds: number }> {
  const writers = {
    store: await openStoreWriter(),
    deferred: await openStoreWriter(true),
    driver: await openRawDriver(),
  };
  try {
    const names = ["store", "deferred", "driver"] as const;
    for (const name of names) await warmUp(writers[name], warmupMs);
    const samples: Record<(typeof names)[number], WritePath[]> = {
      store: [],
      deferred: [],
      driver: [],
    };
    for (let r = 0; r < rounds; r++) {
      const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
      for (const name of order) {
        samples[name].push(await timed(name, rows, rows, 1, () => writers[name].insertOne()));
      }
    }
    const medianPath = (paths: WritePath[]): WritePath => {
      const sorted = [...paths].sort((a, b) => a.elapsedMs - b.elapsedMs);
      const middle = sorted[Math.floor(sorted.length / 2)];
      return { ...middle, cpuUsPerRow: median(paths.map((p) => p.cpuUsPerRow)) };
    };
    return {
      store: medianPath(samples.store),
      deferred: medianPath(samples.deferred),
      driver: medianPath(samples.driver),
      withinRounds: median(
        samples.store.map((p, i) => rowsPerSecond(p) / rowsPerSecond(samples.driver[i])),
      ),
    };
  } finally {
    await Promise.all(Object.values(writers).map((writer) => writer.close()));
  }
}

/** The line store-child.ts prints with section d's result: this, then the section as JSON. */
export const STORE_RESULT = "RESULT ";

// Section d takes about half a minute at full length; a slow disk may double that.
const STORE_CHILD_TIMEOUT_MS = 300_000;

/**
 * Section d in a process of its own (store-child.ts): what the suite's earlier sections leave
 * in this process (their heap, telemetry's GC observers) would tax the store's path, which
 * allocates more per write, more than the driver's.
 */
export async function runStoreInChild(config: BenchConfig): Promise<SectionResult> {
  const child = await spawnNode(
    benchScript("store-child"),
    [JSON.stringify(config)],
    STORE_RESULT,
    {},
    STORE_CHILD_TIMEOUT_MS,
  );
  try {
    return JSON.parse(child.ready.slice(STORE_RESULT.length)) as SectionResult;
  } finally {
    await child.stop();
  }
}

/**
 * Section d: the write paths of mesh/store.ts (WAL, BEGIN IMMEDIATE transactions,
 * synchronous FULL as orders, payments and inventory use it) on a file in the temp folder.
 */
export async function runStore(config: BenchConfig): Promise<SectionResult> {
  const n = config.storeRows;
  const batch = config.storeBatch;
  const insertOne = (store: Store) => () => store.write((trx) => trx("bench_rows").insert(row()));
  const paths = await withStore("full", async (store) => [
    await timed("1 row per transaction, one writer", n, n, 1, insertOne(store)),
    await timed(
      `1 row per transaction, ${CONCURRENT_WRITERS} writers queued (group commit)`,
      n,
      n,
      CONCURRENT_WRITERS,
      insertOne(store),
    ),
    await timed(`${batch} rows per transaction (batched)`, n, Math.ceil(n / batch), 1, () =>
      store.write((trx) => trx("bench_rows").insert(Array.from({ length: batch }, row))),
    ),
  ]);
  const normal = await withStore("normal", (store) =>
    timed("1 row per transaction, synchronous NORMAL", n, n, 1, insertOne(store)),
  );
  const {
    store: prepared,
    deferred,
    driver: raw,
    withinRounds,
  } = await storeVersusDriver(config.rounds, config.storeRoundRows, config.warmupMs);
  prepared.name = "1 row per transaction, prepared statement (median of rounds)";
  deferred.name = "1 row per transaction, insert deferred to the commit (median of rounds)";
  raw.name = "1 row per transaction, node-sqlite3 alone (median of rounds)";
  const all = [...paths, normal, prepared, deferred, raw];
  const [single, , batched] = paths;
  const storeOverDriver = round3(rowsPerSecond(prepared) / rowsPerSecond(raw));
  return {
    id: "d",
    title: "Store write paths (knex + sqlite3, WAL, synchronous FULL, BEGIN IMMEDIATE)",
    setup: `${n} inserts of a ${PAYLOAD.length}-byte row per path into a fresh file in the temp folder, through Store.write as the services write.`,
    columns: ["write path", "rows/s", "commit p50 ms", "commit p99 ms", "CPU µs/row"],
    rows: all.map((p) => {
      const s = p.commits.summary();
      return [
        p.name,
        Math.round(rowsPerSecond(p)),
        s.p50.toFixed(2),
        s.p99.toFixed(2),
        Math.round(p.cpuUsPerRow),
      ];
    }),
    figures: {
      single_rows_per_s: round3(rowsPerSecond(single)),
      concurrent_rows_per_s: round3(rowsPerSecond(paths[1])),
      batched_rows_per_s: round3(rowsPerSecond(batched)),
      normal_rows_per_s: round3(rowsPerSecond(normal)),
      batch_speedup: round3(rowsPerSecond(batched) / rowsPerSecond(single)),
      single_commit_p50_ms: round3(single.commits.summary().p50),
      single_cpu_us_per_row: round3(single.cpuUsPerRow),
      concurrent_cpu_us_per_row: round3(paths[1].cpuUsPerRow),
      raw_driver_rows_per_s: round3(rowsPerSecond(raw)),
      raw_driver_cpu_us_per_row: round3(raw.cpuUsPerRow),
      prepared_rows_per_s: round3(rowsPerSecond(prepared)),
      prepared_cpu_us_per_row: round3(prepared.cpuUsPerRow),
      deferred_rows_per_s: round3(rowsPerSecond(deferred)),
      deferred_cpu_us_per_row: round3(deferred.cpuUsPerRow),
      store_over_driver: storeOverDriver,
      store_over_driver_within_rounds: round3(withinRounds),
    },
    targets: [
      {
        name: "one writer's one-row commits, store (prepared statement) / node-sqlite3 alone",
        value: storeOverDriver,
        target: "≥ 0.9",
        met: storeOverDriver >= 0.9,
      },
    ],
    notes: [
      `Store / node-sqlite3 alone: ${storeOverDriver} from the median rounds, ${round3(withinRounds)} as the median of each round's own ratio (a slow spell of the disk that spans a round cancels out of that one); each path wrote for ${config.warmupMs} ms before the rounds, as the other sections warm up, so that the JIT has compiled the store's path.`,
      "Bound: with synchronous FULL every commit waits for an fsync of the WAL, so a lone writer's one-row transactions run at the disk's fsync rate (compare synchronous NORMAL, which skips it).",
      "Queued writers are group-committed by Store.write (mesh/group-commit.ts): run back to back in one transaction, one COMMIT and one fsync per group (savepoints only when a write fails). That removes fsyncs but not statements: each is a round trip to sqlite3's worker thread and knex's query path, which bounds the rate when the CPU, not the disk, is the scarce resource.",
      "CPU µs/row counts this process's threads, sqlite3's included (fsync's kernel time is system CPU). The first rows write through knex's query builder (the services' cold paths); the prepared-statement row is how the services write on their hot paths (mesh/store/statement.ts), the deferred row how they write inserts they do not read back (Statement.defer: the insert runs with the COMMIT in one trip to the thread pool), and those two and node-sqlite3 alone run in rotating rounds, medians shown. The difference between the builder rows and node-sqlite3 alone is knex's cost per statement: query building, its runner and pool.",
      "The batched row is the bound for many rows: one fsync and one statement for the whole batch.",
    ],
  };
}
