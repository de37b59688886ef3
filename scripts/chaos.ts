/**
 * `npm run chaos -- [flags]` (`--help` lists them): the mesh under steady order load while
 * instances are killed and faults injected, then a check that the stores lost and
 * duplicated nothing. Exits 1 if an invariant fails.
 */
import { parseDuration } from "../mesh/config";
import { positiveNumber, readFlags, usageError, wholeNumber } from "./cli";
import { runChaos, type ChaosReport } from "./chaos/run";
import { SCENARIOS } from "./chaos/scenarios";
import { shopServices } from "./members";
import { freeInstancePorts } from "./ports";

const MAX_DURATION_MS = 600_000;
const MAX_RATE = 500;

const SCRIPT = {
  name: "chaos",
  usage: `usage: npm run chaos -- [flags]

Runs the mesh in a scratch folder under a steady order load while instances are killed and
faults injected, then checks the stores: nothing lost, nothing duplicated. Exits 1 if an
invariant fails.

  --scenario NAME     what happens during the run (default full):
${Object.entries(SCENARIOS)
  .map(([name, s]) => `                        ${name}: ${s.description}`)
  .join("\n")}
  --duration TIME     how long the load runs, 1s to 10m (default 30s)
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
const byCode = (map: Map<string, number>): string =>
  map.size === 0 ? "" : ` (${[...map].map(([code, n]) => `${code} ${n}`).join(", ")})`;
const total = (map: Map<string, number>): number => [...map.values()].reduce((a, b) => a + b, 0);

/** The report as people read it. */
export function formatReport(report: ChaosReport): string {
  const { load } = report;
  const failed = total(load.failed);
  const rejected = total(load.rejected);
  const lat = [...load.latenciesMs].sort((a, b) => a - b);
  const row = (label: string, value: string): string => `  ${label.padEnd(34)}${value}`;
  const lines = [
    `Chaos run "${report.scenario}": ${SCENARIOS[report.scenario].description}`,
    `${report.ratePerSecond} orders/s for ${report.durationMs / 1000} s`,
    "",
    "Timeline",
    ...report.timeline.map((t) => `  ${(t.atMs / 1000).toFixed(1).padStart(6)}s  ${t.what}`),
    "",
    "Load, as the client saw it",
    row("orders sent", String(load.started)),
    row("confirmed", String(load.confirmed)),
    row("rejected (stock, declined card)", `${rejected}${byCode(load.rejected)}`),
    row(
      "client-visible errors",
      `${failed} (${((100 * failed) / Math.max(1, load.started)).toFixed(2)}%)${byCode(load.failed)}`,
    ),
    row(
      "definitive answers",
      `${(((load.started - failed) * 100) / Math.max(1, load.started)).toFixed(2)}%`,
    ),
    row("client retries (same request_id)", `${load.clientRetries}${byCode(load.retriedErrors)}`),
    row("mesh retries (gRFC A6 attempts)", String(report.meshCounters.retries)),
    row("mesh hedges (extra copies)", String(report.meshCounters.hedges)),
    row("outlier ejections (gRFC A50)", String(report.meshCounters.ejections)),
    row("", `(from the members' metrics: ${report.meshCounters.incarnations} processes)`),
    row(
      "latency p50 / p90 / p99 / max",
      [50, 90, 99].map((p) => `${percentile(lat, p)} ms`).join(" / ") +
        ` / ${lat[lat.length - 1] ?? 0} ms`,
    ),
    row(
      "first call after restart",
      [...report.trafficAfterRestartMs]
        .map(([l, ms]) => `${l} ${(ms / 1000).toFixed(1)} s`)
        .join(", ") || "no restarts",
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
    "",
    report.invariants.every((i) => i.holds) ? "All invariants hold." : "AN INVARIANT FAILED.",
    `Service logs: ${report.logFile}`,
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values } = readFlags(SCRIPT);
  const scenario = values.scenario ?? "full";
  const durationMs = parseDuration(values.duration ?? "30s");
  const ratePerSecond = positiveNumber(SCRIPT, "rate", values.rate, 40);
  const seed = wholeNumber(SCRIPT, "seed", values.seed, 1);
  if (!SCENARIOS[scenario])
    usageError(
      SCRIPT,
      `--scenario: one of ${Object.keys(SCENARIOS).join(", ")}, got "${scenario}"`,
    );
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
  process.exit(report.invariants.every((i) => i.holds) ? 0 : 1);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error("chaos failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
