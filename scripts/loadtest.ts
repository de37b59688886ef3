/**
 * `npm run loadtest -- [--journey mixed|place-order] [--rate 50 | --concurrency 8]
 *   [--duration 10s] [--count 100000] [--start] [--json FILE] [--html FILE] [--seed 1]`:
 * drives the mesh described by the topology (mesh.yaml, or MESH_TOPOLOGY), as start:all runs
 * it, or with --start a mesh of its own in a temp folder. Shows progress, then a summary.
 */
import { shopServices } from "./members";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { loadTopology, type Topology } from "../mesh";
import { seededRandom } from "../mesh/api";
import { parseDuration } from "../mesh/config";
import { runLoad, type LoadModel } from "./loadtest/driver";
import { createJourney, JOURNEYS, type JourneyName } from "./loadtest/journeys";
import { createProgress } from "./loadtest/progress";
import { formatSummary, toHtml, toJson, type LoadRunInfo } from "./loadtest/report";
import { prepareOperator } from "./operator";
import { seedLoadData, startScratchMesh, type ScratchMesh } from "./scratch-mesh";

const LOAD_USERS = 20;
const LOAD_PRODUCTS = 10;
const USAGE = `usage: npm run loadtest -- [--journey ${Object.keys(JOURNEYS).join("|")}] [--rate N | --concurrency N] [--duration 10s] [--count N] [--start] [--json FILE] [--html FILE] [--seed N]`;

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith("--"))
    throw new Error(`--${name} needs a value\n${USAGE}`);
  return value;
}

function positive(name: string, fallback: number): number {
  const raw = flag(name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name}: expected a positive number, got "${raw}"\n${USAGE}`);
  return value;
}

function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new Error(`--duration: expected e.g. "30s" or "2m", got "${text}"`);
  return ms;
}

function options() {
  const journey = (flag("journey") ?? "mixed") as JourneyName;
  if (!(journey in JOURNEYS))
    throw new Error(
      `--journey: expected one of ${Object.keys(JOURNEYS).join(", ")}, got "${journey}"`,
    );
  if (flag("rate") !== undefined && flag("concurrency") !== undefined) {
    throw new Error(
      `--rate and --concurrency exclude each other: pick an open or a closed model\n${USAGE}`,
    );
  }
  const model: LoadModel =
    flag("concurrency") !== undefined
      ? { kind: "concurrency", workers: Math.round(positive("concurrency", 1)) }
      : { kind: "rate", perSecond: positive("rate", 50) };
  return {
    journey,
    model,
    durationMs: duration(flag("duration") ?? "10s"),
    maxRequests: Math.round(positive("count", Number.MAX_SAFE_INTEGER)),
    seed: Math.round(positive("seed", 1)),
    start: process.argv.includes("--start"),
    json: flag("json"),
    html: flag("html"),
  };
}

async function main(): Promise<void> {
  const opts = options();
  let scratch: ScratchMesh | undefined;
  const stopScratch = async () => {
    const s = scratch;
    scratch = undefined;
    await s?.stop();
  };
  process.once("SIGINT", () => void stopScratch().then(() => process.exit(130)));
  try {
    let topology: Topology;
    if (opts.start) {
      process.stderr.write("starting a mesh of its own in a temp folder…\n");
      scratch = await startScratchMesh({ services: shopServices(["orders"]) });
      topology = scratch.topology;
    } else topology = loadTopology();
    const runId = randomBytes(3).toString("hex");
    // Calls go as the operator, over mTLS unless the mesh runs plaintext.
    const identity = scratch?.identity ?? prepareOperator(topology).identity;
    const data = await seedLoadData(topology, runId, LOAD_USERS, LOAD_PRODUCTS, identity);
    const journey = createJourney(
      opts.journey,
      topology,
      data,
      runId,
      seededRandom(opts.seed),
      identity,
    );
    const info: LoadRunInfo = {
      command: ["npm run loadtest --", ...process.argv.slice(2)].join(" "),
      startedAt: new Date().toISOString(),
      journey: `${opts.journey} (${JOURNEYS[opts.journey]})`,
      model:
        opts.model.kind === "rate"
          ? `open model, ${opts.model.perSecond} requests/s (latency from the intended send time)`
          : `closed model, ${opts.model.workers} in flight`,
      targets: {
        orders: topology.services.orders.target,
        inventory: topology.services.inventory.target,
      },
    };
    const progress = createProgress(process.stderr);
    const result = await runLoad({
      model: opts.model,
      durationMs: opts.durationMs,
      maxRequests: opts.maxRequests,
      next: journey.next,
      onProgress: progress.update,
    }).finally(() => {
      progress.end();
      journey.close();
    });
    console.log(formatSummary(info, result));
    if (opts.json) writeFileSync(opts.json, toJson(info, result));
    if (opts.html) writeFileSync(opts.html, toHtml(info, result));
  } finally {
    await stopScratch();
  }
}

main().catch((err: unknown) => {
  console.error("loadtest failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
