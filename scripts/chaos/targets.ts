import type { OrderLoadStats } from "../order-load";
import type { MeshCounters } from "./mesh-counters";
import type { Availability } from "./availability";
import type { ScenarioTargets } from "./scenarios";

/** One target of a scenario and whether the run met it. */
export interface TargetResult {
  name: string;
  holds: boolean;
  /** The figure measured. */
  detail: string;
}

/** What users saw in a run, as figures the targets compare. */
export interface UserView {
  orders: number;
  refusedPct: number;
  firstAttemptErrorPct: number;
  errorPct: number;
  p99Ms: number;
  maxMs: number;
  longestOutageMs: number;
  /** The service whose outage was longest. */
  longestOutageOf: string;
}

const total = (map: ReadonlyMap<string, number>): number =>
  [...map.values()].reduce((a, b) => a + b, 0);

/** The p-th percentile (0 to 100) of `values`, sorted or not. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Error rates, refusals, latency and outages, from a run's load and availability. */
export function userView(load: OrderLoadStats, availability: Availability): UserView {
  const orders = Math.max(1, load.started);
  const outages = Object.entries(availability.longestOutageMs).sort((a, b) => b[1] - a[1]);
  return {
    orders: load.started,
    refusedPct: (100 * total(load.rejected)) / orders,
    firstAttemptErrorPct: (100 * total(load.firstAttemptFailed)) / orders,
    errorPct: (100 * total(load.failed)) / orders,
    p99Ms: percentile(load.latenciesMs, 99),
    maxMs: Math.max(0, ...load.latenciesMs),
    longestOutageMs: outages[0]?.[1] ?? 0,
    longestOutageOf: outages[0]?.[0] ?? "-",
  };
}

const pct = (value: number): string => `${value.toFixed(2)}%`;

/** Checks a run's figures against the scenario's targets; one result per target set. */
export function checkTargets(
  run: { load: OrderLoadStats; availability: Availability; meshCounters: MeshCounters },
  targets: ScenarioTargets,
): TargetResult[] {
  const view = userView(run.load, run.availability);
  const results: TargetResult[] = [];
  const add = (name: string, holds: boolean, detail: string): void =>
    void results.push({ name, holds, detail });
  if (targets.minRefusedPct !== undefined) {
    add(
      `at least ${targets.minRefusedPct}% of orders refused (stock, declined card)`,
      view.refusedPct >= targets.minRefusedPct,
      pct(view.refusedPct),
    );
  }
  if (targets.maxEjections !== undefined) {
    add(
      `at most ${targets.maxEjections} outlier ejections`,
      run.meshCounters.ejections <= targets.maxEjections,
      String(run.meshCounters.ejections),
    );
  }
  if (targets.maxFirstAttemptErrorPct !== undefined) {
    add(
      `errors for a client that does not retry below ${targets.maxFirstAttemptErrorPct}%`,
      view.firstAttemptErrorPct < targets.maxFirstAttemptErrorPct ||
        view.firstAttemptErrorPct === 0,
      pct(view.firstAttemptErrorPct),
    );
  }
  if (targets.maxErrorPct !== undefined) {
    add(
      targets.maxErrorPct === 0
        ? "no error for a client that retries with the same request_id"
        : `errors after the client's retries at most ${targets.maxErrorPct}%`,
      view.errorPct <= targets.maxErrorPct,
      pct(view.errorPct),
    );
  }
  if (targets.maxOutageMs !== undefined) {
    add(
      `no service without a SERVING instance for more than ${targets.maxOutageMs} ms`,
      view.longestOutageMs <= targets.maxOutageMs,
      `longest ${view.longestOutageMs} ms (${view.longestOutageOf})`,
    );
  }
  if (targets.maxP99Ms !== undefined) {
    add(
      `PlaceOrder p99 within ${targets.maxP99Ms} ms`,
      view.p99Ms <= targets.maxP99Ms,
      `${view.p99Ms} ms`,
    );
  }
  return results;
}
