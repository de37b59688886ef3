/**
 * `npm run chaos -- [flags]` (`--help` lists them): the mesh under steady order load while
 * instances are killed, drained, kept from their port, faults are injected or the network
 * degrades (see chaos/scenarios.ts for the names); then what users saw (errors, p99, outages)
 * and a check that the stores lost and duplicated nothing. Each scenario has its own full
 * length (`--duration` overrides it). Exits 1 if an invariant fails or the scenario misses a
 * target.
 */
import { cpus } from "node:os";
import { parseDuration } from "../mesh/config";
import { positiveNumber, readFlags, usageError, wholeNumber } from "./cli";
import { runChaos, type ChaosReport } from "./chaos/run";
import { SCENARIOS } from "./chaos/scenarios";
import { downSince, userView } from "./chaos/targets";
import { shopServices } from "./members";
import { freeInstancePorts } from "./ports";

const MAX_DURATION_MS = 600_000;
const MAX_RATE = 500;
// A scenario that does not say how long its full form runs.
const DEFAULT_DURATION_MS = 30_000;

const SCRIPT = {
  name: "chaos",
  usage: `usage: npm run chaos -- [flags]

Runs the mesh in a scratch folder, as start:all does, under a steady order load while
instances are killed, drained, kept from their port, faults injected or the network degrades;
then reports what users saw (errors, p99, time without a serving instance) and checks the
stores: nothing lost, nothing duplicated. Exits 1 if an invariant fails or the scenario misses
one of its targets.

  --scenario NAME     what happens during the run (default full):
${Object.entries(SCENARIOS)
  .map(([name, s]) => `                        ${name}: ${s.description}`)
  .join("\n")}
  --duration TIME     how long the load runs, 1s to 10m (default: the scenario's own
                      length, 30s to 60s)
  --rate N            orders a second, 1 to ${MAX_RATE} (default 40)
  --seed N            seed of the random choices (default 1)
  -h, --help          show this and exit`,
  options: {
    scenario: { type: "string" },
    duration: { type: "string" },
    rate: { type: "string" },
    seed: { type: "string" },
  },
} as const;

const percentile = (sorted: number[], p: number): number =>
  sorted.length === 0
    ? 0
    : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
const seconds = (ms: number | undefined): string =>
  ms === undefined ? "never" : `${(ms / 1000).toFixed(2)} s`;
const byCode = (map: Map<string, number>): string =>
  map.size === 0 ? "" : ` (${[...map].map(([code, n]) => `${code} ${n}`).join(", ")})`;
const total = (map: Map<string, number>): number => [...map.values()].reduce((a, b) => a + b, 0);

// What a stopped instance's time to SERVING is counted from (chaos/targets.ts downSince).
const SINCE: Record<string, string> = {
  SIGKILL: "the SIGKILL",
  SIGTERM: "its drain ended",
  "port held": "its port was freed",
};

/** The report as people read it. */
export function formatReport(report: ChaosReport): string {
  const { load } = report;
  const failed = total(load.failed);
  const rejected = total(load.rejected);
  const lat = [...load.latenciesMs].sort((a, b) => a - b);
  const row = (label: string, value: string): string => `  ${label.padEnd(34)}${value}`;
  const view = userView(load, report.availability);
  const firstFailed = total(load.firstAttemptFailed);
  const outages = Object.entries(report.availability.longestOutageMs)
    .map(([service, ms]) => `${service} ${ms} ms`)
    .join(", ");
  const lines = [
    `Chaos run "${report.scenario}": ${SCENARIOS[report.scenario].description}`,
    `${report.ratePerSecond} orders/s for ${report.durationMs / 1000} s; ${report.placement}`,
    `load average (1 min, ${cpus().length} CPUs): ${report.loadAverage.atStart.toFixed(2)} when the load began, ${report.loadAverage.atEnd.toFixed(2)} when it ended`,
    "",
    "Timeline",
    ...report.timeline.map((t) => `  ${(t.atMs / 1000).toFixed(1).padStart(6)}s  ${t.what}`),
    "",
    "What users saw",
    row("orders sent", String(load.started)),
    row("confirmed", String(load.confirmed)),
    row(
      "refused (stock, declined card)",
      `${rejected} (${view.refusedPct.toFixed(2)}%)${byCode(load.rejected)}`,
    ),
    row(
      "errors, client without retries",
      `${firstFailed} (${view.firstAttemptErrorPct.toFixed(2)}%)${byCode(load.firstAttemptFailed)}`,
    ),
    row(
      "errors after the client's retries",
      `${failed} (${view.errorPct.toFixed(2)}%)${byCode(load.failed)}`,
    ),
    row("client retries (same request_id)", `${load.clientRetries}${byCode(load.retriedErrors)}`),
    ...[...load.errorSamples].map(([code, details]) =>
      row(`  first ${code}`, details.slice(0, 160)),
    ),
    row(
      "latency p50 / p90 / p99 / max",
      [50, 90, 99].map((p) => `${percentile(lat, p)} ms`).join(" / ") +
        ` / ${lat[lat.length - 1] ?? 0} ms`,
    ),
    row(
      "longest with no SERVING instance",
      `${outages} (health polled every ${report.availability.pollMs} ms)`,
    ),
    "",
    "Inside the mesh",
    row("mesh retries (gRFC A6 attempts)", String(report.meshCounters.retries)),
    row("mesh hedges (extra copies)", String(report.meshCounters.hedges)),
    row("outlier ejections", String(report.meshCounters.ejections)),
    row("", `(from the members' metrics: ${report.meshCounters.incarnations} processes)`),
    ...report.rejoins.map((r) =>
      row(
        `${r.label} back (${r.how})`,
        `SERVING ${seconds(r.servingAtMs === undefined ? undefined : r.servingAtMs - downSince(r))} after ${SINCE[r.how]}, ` +
          `first call ${seconds(r.firstCallAtMs === undefined || r.servingAtMs === undefined ? undefined : Math.max(0, r.firstCallAtMs - r.servingAtMs))} after that`,
      ),
    ),
    ...report.heals.map((h) =>
      row(
        `${h.label} healed`,
        `took calls again ${seconds(h.callsAgainAtMs === undefined ? undefined : h.callsAgainAtMs - h.healedAtMs)} after the heal`,
      ),
    ),
    row("pending orders settled", `${(report.settleMs / 1000).toFixed(1)} s after the load`),
    ...(report.notificationLag
      ? [
          row(
            "notifications caught up",
            `${((report.catchUpMs ?? 0) / 1000).toFixed(1)} s after that`,
          ),
          row(
            "order → notification lag",
            `p50 ${report.notificationLag.p50} ms, p99 ${report.notificationLag.p99} ms, max ` +
              `${report.notificationLag.max} ms; after the last restart max ` +
              `${report.notificationLag.maxAfterRecovery} ms`,
          ),
        ]
      : []),
    "",
    "Invariants, checked in the stores",
    ...report.invariants.map((i) => `  ${i.holds ? "✓" : "✗"} ${i.name}: ${i.detail}`),
    ...(report.targets.length > 0
      ? [
          "",
          "Targets of this scenario",
          ...report.targets.map(
            (t) =>
              `  ${t.holds ? "✓" : "✗"} ${t.name}${t.idleMachine ? " (idle machine)" : ""}: ${t.detail}`,
          ),
        ]
      : []),
    "",
    report.invariants.every((i) => i.holds) ? "All invariants hold." : "AN INVARIANT FAILED.",
    ...(report.targets.length > 0
      ? [report.targets.every((t) => t.holds) ? "Every target met." : "A TARGET WAS MISSED."]
      : []),
    `Service logs: ${report.logFile}`,
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = readFlags(SCRIPT);
  const scenario = values.scenario ?? "full";
  if (!SCENARIOS[scenario])
    usageError(
      SCRIPT,
      `--scenario: one of ${Object.keys(SCENARIOS).join(", ")}, got "${scenario}"`,
    );
  const durationMs = parseDuration(
    values.duration ?? `${(SCENARIOS[scenario].durationMs ?? DEFAULT_DURATION_MS) / 1000}s`,
  );
  const ratePerSecond = positiveNumber(SCRIPT, "rate", values.rate, 40);
  const seed = wholeNumber(SCRIPT, "seed", values.seed, 1);
  if (durationMs === undefined || durationMs <= 0 || durationMs > MAX_DURATION_MS)
    usageError(SCRIPT, `--duration: from 1s to 10m, got "${values.duration}"`);
  if (ratePerSecond > MAX_RATE)
    usageError(SCRIPT, `--rate: from 1 to ${MAX_RATE} orders a second, got ${ratePerSecond}`);

  const ports = await freeInstancePorts(shopServices().length, 100);
  const report = await runChaos({
    scenario,
    durationMs,
    ratePerSecond,
    ports,
    seed,
    progress: (line) => console.log(line),
  });
  console.log(`\n${formatReport(report)}`);
  const passed = [...report.invariants, ...report.targets].every((i) => i.holds);
  process.exit(passed ? 0 : 1);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error("chaos failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
