/**
 * `npm run loadtest -- [flags]` (`--help` lists them): drives the mesh described by the topology (mesh.yaml, or MESH_TOPOLOGY), as start:all runs
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
import { positiveNumber, readFlags, usageError, wholeNumber } from "./cli";
import { prepareOperator } from "./operator";
import { seedLoadData, startScratchMesh, type ScratchMesh } from "./scratch-mesh";

const LOAD_USERS = 20;
const LOAD_PRODUCTS = 10;

const SCRIPT = {
  name: "loadtest",
  usage: `usage: npm run loadtest -- [flags]

Drives the mesh in mesh.yaml (MESH_TOPOLOGY), as start:all runs it, or a mesh of its own
(--start), with a load of orders and reads; shows progress, then a summary.

  --journey NAME      what each request does (default mixed):
${Object.entries(JOURNEYS)
  .map(([name, what]) => `                        ${name}: ${what}`)
  .join("\n")}
  --rate N            open model: N requests a second (default 50)
  --concurrency N     closed model: N requests in flight (excludes --rate)
  --duration TIME     stop after this long, e.g. 30s or 2m (default 10s)
  --count N           stop after N requests (default: no limit)
  --start             start a mesh of its own in a temp folder
  --json FILE         also write the results as JSON
  --html FILE         also write a page with a latency-over-time chart
  --seed N            seed of the random choices (default 1)
  -h, --help          show this and exit`,
  options: {
    journey: { type: "string" },
    rate: { type: "string" },
    concurrency: { type: "string" },
    duration: { type: "string" },
    count: { type: "string" },
    start: { type: "boolean" },
    json: { type: "string" },
    html: { type: "string" },
    seed: { type: "string" },
  },
} as const;

function options() {
  const { values } = readFlags(SCRIPT);
  const journey = (values.journey ?? "mixed") as JourneyName;
  if (!(journey in JOURNEYS))
    usageError(
      SCRIPT,
      `--journey: expected one of ${Object.keys(JOURNEYS).join(", ")}, got "${journey}"`,
    );
  if (values.rate !== undefined && values.concurrency !== undefined)
    usageError(
      SCRIPT,
      "--rate and --concurrency exclude each other: pick an open or a closed model",
    );
  const durationMs = parseDuration(values.duration ?? "10s");
  if (durationMs === undefined || durationMs <= 0)
    usageError(SCRIPT, `--duration: expected e.g. "30s" or "2m", got "${values.duration}"`);
  const model: LoadModel =
    values.concurrency !== undefined
      ? {
          kind: "concurrency",
          workers: Math.round(positiveNumber(SCRIPT, "concurrency", values.concurrency, 1)),
        }
      : { kind: "rate", perSecond: positiveNumber(SCRIPT, "rate", values.rate, 50) };
  return {
    journey,
    model,
    durationMs,
    maxRequests: Math.round(positiveNumber(SCRIPT, "count", values.count, Number.MAX_SAFE_INTEGER)),
    seed: wholeNumber(SCRIPT, "seed", values.seed, 1),
    start: values.start === true,
    json: values.json,
    html: values.html,
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
