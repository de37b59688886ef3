import { join } from "node:path";
import { projectRoot } from "../mesh/config";

/** How long and how hard each comparison runs; {@link fullConfig} or {@link quickConfig}. */
export interface BenchConfig {
  mode: "quick" | "full";
  /** Measured rounds per variant; the report shows the median of the rounds. */
  rounds: number;
  /** Length of one measured round of a hop or PlaceOrder variant. */
  roundMs: number;
  /** Unmeasured load before the rounds, per variant (JIT, connections, caches). */
  warmupMs: number;
  /** Calls in flight in the hop throughput phase. */
  hopConcurrency: number;
  /**
   * PlaceOrder calls in flight: enough that the real graph of section c, whose latency is
   * several times the echo graph's, is past the steep part of its climb with more in flight,
   * so that its ratios compare graphs running flat out. The section also runs both graphs
   * with twice as many.
   */
  orderConcurrency: number;
  /** Rows written per store variant. */
  storeRows: number;
  /**
   * One-row commits per round of each path in the store / node-sqlite3 comparison: enough that
   * a round lasts a few hundred milliseconds, so that a spell of slow fsyncs does not decide it.
   */
  storeRoundRows: number;
  /** Rows per transaction in the batched store variant. */
  storeBatch: number;
  /** Orders in the store for the small and the large growth measurement. */
  growthSmall: number;
  growthLarge: number;
  /** Reads timed per growth measurement and query. */
  growthSamples: number;
}

export const fullConfig: BenchConfig = {
  mode: "full",
  rounds: 5,
  roundMs: 2_000,
  warmupMs: 2_000,
  hopConcurrency: 32,
  orderConcurrency: 64,
  storeRows: 2_000,
  storeRoundRows: 1_000,
  storeBatch: 100,
  growthSmall: 10_000,
  growthLarge: 1_000_000,
  growthSamples: 2_000,
};

/** A smoke run of every comparison in seconds: numbers are only a sign of life. */
export const quickConfig: BenchConfig = {
  mode: "quick",
  rounds: 2,
  roundMs: 300,
  warmupMs: 200,
  hopConcurrency: 8,
  orderConcurrency: 4,
  storeRows: 100,
  storeRoundRows: 40,
  storeBatch: 20,
  growthSmall: 1_000,
  growthLarge: 20_000,
  growthSamples: 200,
};

/** A compiled script of the suite, e.g. `dist/bench/echo-server.js`. */
export const benchScript = (name: string): string =>
  join(projectRoot(), "dist", "bench", `${name}.js`);
