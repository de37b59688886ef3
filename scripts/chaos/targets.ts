import type { OrderLoadStats } from "../order-load";
import type { MeshCounters } from "./mesh-counters";
import type { Availability } from "./availability";
import type { Heal, Rejoin } from "./run";
import type { ScenarioTargets } from "./scenarios";

/** One target of a scenario and whether the run met it. */
export interface TargetResult {
  name: string;
  holds: boolean;
  /** The figure measured. */
  detail: string;
  /** A target for an idle machine: the CI tests, on a loaded one, report it but leave it out. */
  idleMachine?: boolean;
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

/**
 * When a stopped instance counts as down from: its SIGKILL, the end of its SIGTERM drain (a
 * drain takes its time on purpose), or the moment its port was freed.
 */
export function downSince(rejoin: Rejoin): number {
  if (rejoin.portFreedAtMs !== undefined) return rejoin.portFreedAtMs;
  return rejoin.how === "SIGTERM" ? (rejoin.exitedAtMs ?? rejoin.killedAtMs) : rejoin.killedAtMs;
}

/** Checks a run's figures against the scenario's targets; one result per target set. */
export function checkTargets(
  run: {
    load: OrderLoadStats;
    availability: Availability;
    meshCounters: MeshCounters;
    rejoins: readonly Rejoin[];
    heals: readonly Heal[];
  },
  targets: ScenarioTargets,
): TargetResult[] {
  const view = userView(run.load, run.availability);
  const results: TargetResult[] = [];
  const add = (name: string, holds: boolean, detail: string, idleMachine?: boolean): void =>
    void results.push({ name, holds, detail, ...(idleMachine ? { idleMachine } : {}) });
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
  if (targets.minEjections !== undefined) {
    add(
      `at least ${targets.minEjections} outlier ejection (the instance cut off)`,
      run.meshCounters.ejections >= targets.minEjections,
      String(run.meshCounters.ejections),
    );
  }
  if (targets.callsAgainAfterHeal) {
    add(
      "an instance whose network healed takes calls again",
      run.heals.length > 0 && run.heals.every((h) => h.callsAgainAtMs !== undefined),
      run.heals
        .map((h) =>
          h.callsAgainAtMs === undefined
            ? `${h.label}: no call before the load ended`
            : `${h.label}: ${h.callsAgainAtMs - h.healedAtMs} ms after the heal`,
        )
        .join(", ") || "nothing was healed",
    );
  }
  const ms = (value: number | undefined): string => (value === undefined ? "never" : `${value} ms`);
  if (targets.maxBackServingMs !== undefined) {
    const times = run.rejoins.map((r) =>
      r.servingAtMs === undefined ? undefined : r.servingAtMs - downSince(r),
    );
    add(
      `a stopped instance SERVING again within ${targets.maxBackServingMs} ms`,
      times.length > 0 && times.every((t) => t !== undefined && t <= targets.maxBackServingMs!),
      run.rejoins.map((r, i) => `${r.label} ${ms(times[i])}`).join(", ") || "none stopped",
      true,
    );
  }
  if (targets.maxFirstCallAfterServingMs !== undefined) {
    const times = run.rejoins.map((r) =>
      r.firstCallAtMs === undefined || r.servingAtMs === undefined
        ? undefined
        : // A first call before the health poll saw SERVING: it took calls as it served.
          Math.max(0, r.firstCallAtMs - r.servingAtMs),
    );
    add(
      `its first call within ${targets.maxFirstCallAfterServingMs} ms of SERVING`,
      times.length > 0 &&
        times.every((t) => t !== undefined && t <= targets.maxFirstCallAfterServingMs!),
      run.rejoins.map((r, i) => `${r.label} ${ms(times[i])}`).join(", ") || "none stopped",
      true,
    );
  }
  return results;
}
