import { LatencyRecorder, nowMs, type LatencySummary } from "../scripts/stats";

/** One call of a closed-loop load: calls `done` once it ended, with its error if it failed. */
export type CallFn = (done: (err: unknown) => void) => void;

/** Options for {@link runClosedLoop}. */
export interface ClosedLoopOptions {
  /** Calls in flight at any time: each worker starts its next call when its last one ends. */
  concurrency: number;
  /** Stop starting calls after this long. */
  durationMs: number;
  /** And after this many. Defaults to no limit. */
  maxCalls?: number;
}

/** What a closed-loop run measured. */
export interface ClosedLoopResult {
  calls: number;
  errors: number;
  /** The first error seen, to say why calls failed. */
  firstError?: string;
  elapsedMs: number;
  /** Successful calls per second. */
  rps: number;
  latency: LatencySummary;
}

/**
 * A fixed number of workers each making calls back to back, for a fixed time: the most a
 * caller can get through at that concurrency. Latency is measured from each call's start, as
 * a closed model has no intended send time. Resolves when every call in flight has ended.
 */
export function runClosedLoop(call: CallFn, options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const latencies = new LatencyRecorder();
  const maxCalls = options.maxCalls ?? Infinity;
  let started = 0;
  let errors = 0;
  let firstError: string | undefined;
  let running = 0;
  const began = nowMs();
  const stopAt = began + options.durationMs;

  return new Promise((resolve) => {
    const finish = (): void => {
      const elapsedMs = nowMs() - began;
      const ok = latencies.count;
      resolve({
        calls: started,
        errors,
        firstError,
        elapsedMs,
        rps: (ok * 1000) / elapsedMs,
        latency: latencies.summary(),
      });
    };
    const next = (): void => {
      const now = nowMs();
      if (now >= stopAt || started >= maxCalls) {
        if (--running === 0) finish();
        return;
      }
      started++;
      call((err) => {
        if (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message : JSON.stringify(err);
        } else latencies.record(nowMs() - now);
        next();
      });
    };
    running = options.concurrency;
    for (let i = 0; i < options.concurrency; i++) next();
  });
}
