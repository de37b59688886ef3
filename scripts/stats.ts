/** Latency and rate arithmetic shared by the benchmark suite and the load generator. */

/** The value at percentile `p` (0 to 100) of ascending `sorted`, nearest-rank; 0 when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** The median of any list (not sorted in place); 0 when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Percentiles of one set of latencies, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/**
 * A growable record of latencies in a preallocated Float64Array, so that recording one costs
 * no allocation on the measuring side of a benchmark.
 */
export class LatencyRecorder {
  private values: Float64Array;
  count = 0;

  /** @param capacity starting room, grown by doubling. Defaults to 65 536. */
  constructor(capacity = 65_536) {
    this.values = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  summary(): LatencySummary {
    const sorted = this.values.slice(0, this.count).sort();
    return {
      count: this.count,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: this.count === 0 ? 0 : sorted[this.count - 1],
    };
  }
}

/** Milliseconds since an arbitrary origin, with sub-millisecond precision. */
export const nowMs = (): number => performance.now();

/** "1.23 ms", "456 µs": a latency in the unit that reads best. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${Math.round(ms)} ms`;
}

/** Rounds to 3 significant digits, for tables and JSON that people read. */
export const round3 = (x: number): number => (x === 0 ? 0 : Number(x.toPrecision(3)));
