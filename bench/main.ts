/**
 * `npm run bench -- [flags]` (`--help` lists them): the benchmark suite. Runs
 * each comparison side by side in one run and prints one self-describing report (command,
 * machine, time, medians, ratios against the targets, what bounds each number).
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { readFlags, usageError } from "../scripts/cli";
import { fullConfig, quickConfig, type BenchConfig } from "./config";
import { runGrowth } from "./growth";
import { runHops } from "./hops";
import { runPlaceOrder } from "./place-order";
import { formatReport, machineInfo, type BenchReport, type SectionResult } from "./report";
import { runStartAll } from "./start-all";
import { runStoreInChild } from "./store-writes";

/** The sections, in report order; `hops` yields a and b together. */
const SECTIONS = ["a", "b", "c", "d", "e", "f"] as const;

const SCRIPT = {
  name: "bench",
  usage: `usage: npm run bench -- [flags]

Runs the benchmark suite, each comparison side by side in one run, and prints one report
(command, machine, medians, ratios against the targets). The full suite takes minutes.

  --quick             every section with tiny counts, in seconds (a smoke run)
  --only a,b,…        only these sections (default all):
                        a  the mesh hop against a raw grpc-js hop
                        b  the mesh hop against a pair of HAProxy sidecars
                        c  PlaceOrder against the same call graph with echo handlers
                        d  the store's write paths
                        e  GetOrder and ListOrders as the orders table grows
                        f  npm run start:all: time to up, idle memory per member
  --json FILE         also write the report as JSON
  -h, --help          show this and exit`,
  options: {
    quick: { type: "boolean" },
    only: { type: "string" },
    json: { type: "string" },
  },
} as const;

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
    sections.push(await runStoreInChild(config));
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
  const { values } = readFlags(SCRIPT);
  const config = values.quick ? quickConfig : fullConfig;
  const only = values.only?.split(",") ?? [...SECTIONS];
  const unknown = only.filter((id) => !(SECTIONS as readonly string[]).includes(id));
  if (unknown.length > 0)
    usageError(
      SCRIPT,
      `--only: unknown sections ${unknown.join(", ")}; from ${SECTIONS.join(",")}`,
    );
  const report = await runSuite(config, only, (line) => process.stderr.write(`${line}\n`));
  console.log(formatReport(report));
  if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error("bench failed:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
