/** Options of {@link backoffDelay}: exponential, capped, with jitter. */
export interface BackoffOptions {
  /** Delay before the first retry. Defaults to 100 ms. */
  initialMs?: number;
  /** Largest delay, jitter included. Defaults to 5 seconds. */
  maxMs?: number;
  /** Growth per failure in a row. Defaults to 2. */
  multiplier?: number;
  /** Each delay is spread by ± this fraction. Defaults to 0.2. */
  jitter?: number;
}

const DEFAULT_INITIAL_MS = 100;
const DEFAULT_MAX_MS = 5_000;
const DEFAULT_MULTIPLIER = 2;
// ±20%, as gRPC's own connection backoff does, so that consumers of a restarted peer do not
// all come back in the same millisecond
// (https://github.com/grpc/grpc/blob/master/doc/connection-backoff.md).
const DEFAULT_JITTER = 0.2;

/**
 * How long to wait before retry number `failures` (0 for the first retry after a success).
 * `random` returns a number in [0, 1); tests pass a seeded one.
 */
export function backoffDelay(
  failures: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialMs ?? DEFAULT_INITIAL_MS;
  const max = options.maxMs ?? DEFAULT_MAX_MS;
  const jitter = options.jitter ?? DEFAULT_JITTER;
  const base = Math.min(max, initial * (options.multiplier ?? DEFAULT_MULTIPLIER) ** failures);
  return Math.min(max, Math.round(base * (1 + jitter * (2 * random() - 1))));
}

/** Resolves after `ms`, or at once when `signal` aborts; leaves no timer or listener behind. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener("abort", done, { once: true });
  });
}
