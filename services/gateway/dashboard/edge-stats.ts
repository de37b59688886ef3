import type { Sample } from "./prom-text";

/** Calls from one service to another over one polling interval. */
export interface EdgeStats {
  /** Calling service (the `service` label). */
  from: string;
  /** Called service (the `peer` label). */
  to: string;
  /** Calls completed since the process started, summed over the caller's members. */
  total: number;
  /** Calls per second over the interval; null until two polls exist. */
  rate: number | null;
  /** Share of the interval's calls that did not end OK (0 to 1); null without calls. */
  errorRate: number | null;
  /** Latency quantiles of the interval's calls, in ms; null without calls. */
  p50Ms: number | null;
  p99Ms: number | null;
}

/** One member's samples at one moment. */
export interface Scrape {
  /** Epoch ms. */
  at: number;
  samples: Sample[];
}

const HANDLED = "grpc_client_handled_total";
const BUCKET = "grpc_client_handling_seconds_bucket";

const edgeKey = (s: Sample): string => `${s.labels.service ?? "?"}\u0000${s.labels.peer ?? "?"}`;
const seriesKey = (s: Sample): string =>
  `${s.name}{${Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .sort()
    .join(",")}}`;

/**
 * A counter's increase between two scrapes; a value that went down means the process
 * restarted, so all of it is new (as Prometheus' rate() treats resets).
 */
function increase(now: number, before: number | undefined): number {
  if (before === undefined) return now;
  return now >= before ? now - before : now;
}

/**
 * The `q` quantile of a histogram given its cumulative bucket counts, interpolating linearly
 * within the bucket as PromQL's histogram_quantile does; in the unit of the bounds.
 */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = bounds.length > 0 ? buckets.get(bounds[bounds.length - 1])! : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bound of bounds) {
    const count = buckets.get(bound)!;
    if (count >= rank) {
      // Past the last finite bound there is nothing to interpolate to: answer that bound.
      if (bound === Infinity) return lowerBound;
      if (count === lowerCount) return bound;
      return lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return lowerBound;
}

interface EdgeAccumulator {
  from: string;
  to: string;
  total: number;
  calls: number;
  errors: number;
  buckets: Map<number, number>;
  seenBefore: boolean;
}

/**
 * Per caller→callee edge, from each member's client metrics now and at the previous poll:
 * totals, and the interval's rate, error rate and p50/p99 from counter and bucket deltas.
 * `previous` maps a member to its last scrape; members without one count in totals only.
 */
export function edgeStats(
  current: ReadonlyMap<string, Scrape>,
  previous: ReadonlyMap<string, Scrape>,
): EdgeStats[] {
  const edges = new Map<string, EdgeAccumulator>();
  let seconds = 0;
  for (const [member, scrape] of current) {
    const before = previous.get(member);
    const beforeValues = new Map(before?.samples.map((s) => [seriesKey(s), s.value]));
    if (before) seconds = Math.max(seconds, (scrape.at - before.at) / 1_000);
    for (const sample of scrape.samples) {
      if (sample.name !== HANDLED && sample.name !== BUCKET) continue;
      const key = edgeKey(sample);
      let edge = edges.get(key);
      if (!edge) {
        const { service = "?", peer = "?" } = sample.labels;
        edge = {
          from: service,
          to: peer,
          total: 0,
          calls: 0,
          errors: 0,
          buckets: new Map(),
          seenBefore: false,
        };
        edges.set(key, edge);
      }
      if (before) edge.seenBefore = true;
      const delta = before ? increase(sample.value, beforeValues.get(seriesKey(sample))) : 0;
      if (sample.name === HANDLED) {
        edge.total += sample.value;
        edge.calls += delta;
        if (sample.labels.grpc_code !== "OK") edge.errors += delta;
      } else {
        const le = Number(sample.labels.le === "+Inf" ? Infinity : sample.labels.le);
        edge.buckets.set(le, (edge.buckets.get(le) ?? 0) + delta);
      }
    }
  }
  return [...edges.values()]
    .map((e) => {
      const p50 = histogramQuantile(0.5, e.buckets);
      const p99 = histogramQuantile(0.99, e.buckets);
      return {
        from: e.from,
        to: e.to,
        total: e.total,
        rate: e.seenBefore && seconds > 0 ? e.calls / seconds : null,
        errorRate: e.calls > 0 ? e.errors / e.calls : null,
        p50Ms: p50 === null ? null : p50 * 1_000,
        p99Ms: p99 === null ? null : p99 * 1_000,
      };
    })
    .sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
}
