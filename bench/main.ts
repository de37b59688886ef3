/**
 * `npm run bench -- [--quick] [--only a,b,c,d,e,f] [--json FILE]`: the benchmark suite. Runs
 * each comparison side by side in one run and prints one self-describing report (command,
 * machine, time, medians, ratios against the targets, what bounds each number).
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fullConfig, quickConfig, type BenchConfig } from "./config";
import { runGrowth } from "./growth";
import { runHops } from "./hops";
import { runPlaceOrder } from "./place-order";
import { formatReport, machineInfo, type BenchReport, type SectionResult } from "./report";
import { runStartAll } from "./start-all";
import { runStore } from "./store-writes";

/** The sections, in report order; `hops` yields a and b together. */
const SECTIONS = ["a", "b", "c", "d", "e", "f"] as const;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Runs the selected sections in order and returns the report. */
export async function runSuite(
  config: BenchConfig,
  only: readonly string[],
  progress: (line: string) => void,
): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const machine = machineInfo(loadavg()[0]);
  const sections: SectionResult[] = [];
  const want = (id: string): boolean => only.includes(id);
  if (want("a") || want("b")) {
    progress("a/b: echo hops (raw, mesh, sidecar pair)…");
    const hops = await runHops(config);
    if (want("a")) sections.push(hops.mesh);
    if (want("b")) sections.push(hops.sidecar);
  }
  if (want("c")) {
    progress("c: PlaceOrder, echo graph vs real services…");
    sections.push(await runPlaceOrder(config));
  }
  if (want("d")) {
    progress("d: store write paths…");
    sections.push(await runStore(config));
  }
  if (want("e")) {
    progress("e: growth of GetOrder and ListOrders…");
    sections.push(await runGrowth(config, progress));
  }
  if (want("f")) {
    progress("f: npm run start:all, time to up and idle memory…");
    sections.push(await runStartAll(config));
  }
  return {
    command: ["npm run bench --", ...process.argv.slice(2)].join(" "),
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    mode: config.mode,
    sections,
  };
}

async function main(): Promise<void> {
  const config = process.argv.includes("--quick") ? quickConfig : fullConfig;
  const only = flag("only")?.split(",") ?? [...SECTIONS];
  const unknown = only.filter((id) => !(SECTIONS as readonly string[]).includes(id));
  if (unknown.length > 0) throw new Error(`--only: unknown sections ${unknown.join(", ")}`);
  const report = await runSuite(config, only, (line) => process.stderr.write(`${line}\n`));
  console.log(formatReport(report));
  const json = flag("json");
  if (json) writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error("bench failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
