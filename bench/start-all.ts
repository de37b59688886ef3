import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { projectRoot } from "../mesh/config";
import { memberName } from "../mesh/telemetry";
import { freeGatewayEnv, freeInstancePorts } from "../scripts/ports";
import { median, round3 } from "../scripts/stats";
import { processCpuMs } from "./child";
import type { BenchConfig } from "./config";
import type { SectionResult } from "./report";

const NAMES = ["users", "inventory", "payments", "orders", "notifications"];
const INSTANCE_STEP = 100;
const UP = "The mesh is up";
const UP_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
const TARGET_UP_MS = 3_000;
const TARGET_RSS_MB = 80;
const KIB_PER_MB = 1024;
const SERVICE_SCRIPT = /dist\/(?:bundle\/)?services\/([\w-]+)\/main\.js/;

/** A process of the mesh, and what /proc says about it. */
interface Member {
  pid: number;
  /** users, inventory-0, …, gateway. */
  label: string;
  rssMb: number;
  /** Of that, pages of files (the node binary, mostly): shared by every member. */
  fileMb: number;
  /** Its share of the pages it maps: each shared page divided by the processes mapping it. */
  pssMb: number;
  /** Pages no other process maps: what stopping it would give back. */
  privateMb: number;
  /** CPU used from its start until the mesh was up. */
  cpuMs: number;
}

/** One `npm run start:all`, measured. */
interface StartRun {
  /** From spawning npm to "The mesh is up" on its output. */
  upMs: number;
  /** start:all's members (not npm and not start:all itself), measured after the idle wait. */
  members: Member[];
  /** CPU of every process of the run until the mesh was up, npm and start:all included. */
  totalCpuMs: number;
  /** Processes still running 30 s after SIGTERM to npm. */
  leftAfterSigterm: number;
}

/** Options for {@link measureStartAll}. */
export interface StartAllOptions {
  /** The checkout whose start:all runs. Defaults to this project. */
  root?: string;
  /** Restarts measured after the first start (which also makes certificates and seeds). */
  restarts: number;
  /** How long the mesh idles after it is up before memory is read. */
  idleMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `KEY=value` pairs of a process's environment, or undefined once it is gone. */
function environ(pid: number): Map<string, string> | undefined {
  try {
    const pairs = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    return new Map(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
  } catch {
    return undefined;
  }
}

/** Processes whose environment has MESH_DATA_DIR=dataDir: every process of one start:all. */
function processesOf(dataDir: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => environ(pid)?.get("MESH_DATA_DIR") === dataDir);
}

const cmdline = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
};

/** VmRSS and RssFile of /proc/<pid>/status, Pss and private pages of its smaps_rollup, in MB. */
function residentMb(pid: number): Pick<Member, "rssMb" | "fileMb" | "pssMb" | "privateMb"> {
  const read = (file: string) => {
    const text = readFileSync(`/proc/${pid}/${file}`, "utf8");
    return (field: string) =>
      Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / KIB_PER_MB;
  };
  const status = read("status");
  const rollup = read("smaps_rollup");
  return {
    rssMb: status("VmRSS"),
    fileMb: status("RssFile"),
    pssMb: rollup("Pss"),
    privateMb: rollup("Private_Clean") + rollup("Private_Dirty"),
  };
}

/** Runs `npm run start:all` once on free ports with `dataDir`, and measures it. */
async function startOnce(root: string, dataDir: string, idleMs: number): Promise<StartRun> {
  const ports = await freeInstancePorts(NAMES.length, INSTANCE_STEP);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MESH_DATA_DIR: dataDir,
    ...(await freeGatewayEnv()),
  };
  NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(ports[i])));
  const began = performance.now();
  const npm = spawn("npm", ["run", "-s", "start:all"], { cwd: root, env, stdio: "pipe" });
  let output = "";
  for (const stream of [npm.stdout, npm.stderr])
    stream.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => npm.once("exit", () => resolve()));
  // SIGTERM to npm, as `kill` or `docker stop` sends it: how many processes it leaves running
  // (killed here by pid, so that the next run starts clean).
  const stop = async (): Promise<number> => {
    npm.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, STOP_TIMEOUT_MS)))]);
    clearTimeout(timer);
    const left = processesOf(dataDir);
    for (const pid of left) process.kill(pid, "SIGKILL");
    return left.length;
  };
  let run: Omit<StartRun, "leftAfterSigterm">;
  try {
    run = await measure(npm, () => output, began, dataDir, idleMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...run, leftAfterSigterm: await stop() };
}

/** Waits for "The mesh is up", then reads CPU at once and memory after `idleMs`. */
async function measure(
  npm: ChildProcess,
  output: () => string,
  began: number,
  dataDir: string,
  idleMs: number,
): Promise<Omit<StartRun, "leftAfterSigterm">> {
  while (!output().includes(UP)) {
    if (npm.exitCode !== null) throw new Error(`start:all exited first:\n${output()}`);
    if (performance.now() - began > UP_TIMEOUT_MS) throw new Error(`no "${UP}":\n${output()}`);
    await sleep(10);
  }
  const upMs = performance.now() - began;
  const pids = processesOf(dataDir);
  const cpuAtUp = new Map(pids.map((pid) => [pid, processCpuMs(pid)]));
  await sleep(idleMs);
  const services = pids
    .map((pid) => ({ pid, service: SERVICE_SCRIPT.exec(cmdline(pid))?.[1] }))
    .filter((p): p is { pid: number; service: string } => p.service !== undefined);
  // Labelled as start:all labels them: "users" alone, "inventory-1" and "inventory-2".
  const count = (service: string) => services.filter((p) => p.service === service).length;
  const members = services
    .map(({ pid, service }) => {
      const instance = Number(environ(pid)?.get("MESH_INSTANCE") ?? 0);
      const label = count(service) > 1 ? memberName(service, instance) : service;
      return { pid, label, ...residentMb(pid), cpuMs: cpuAtUp.get(pid) ?? 0 };
    })
    .sort((a, b) => (a.label < b.label ? -1 : 1));
  const totalCpuMs = [...cpuAtUp.values()].reduce((a, b) => a + b, 0);
  return { upMs, members, totalCpuMs };
}

/**
 * `npm run start:all` as a user runs it, on free ports with a fresh data folder: once cold
 * (certificates made, demo data seeded) and `restarts` times more on the same folder, after
 * making sure dist/ is current (the case the 3 s target is for). Each run measures the time
 * from spawning npm to "The mesh is up", every member's resident memory after `idleMs`, and
 * the CPU every process used until the mesh was up.
 */
export async function measureStartAll(options: StartAllOptions): Promise<StartRun[]> {
  const root = options.root ?? projectRoot();
  // Not timed: the runs measure a start with nothing to rebuild. (A checkout from before
  // build-if-stale.mjs rebuilds on every start whatever this does.)
  const build = existsSync(join(root, "scripts", "build-if-stale.mjs"))
    ? spawnSync(process.execPath, ["scripts/build-if-stale.mjs"], { cwd: root, stdio: "ignore" })
    : spawnSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "ignore" });
  if (build.status !== 0) throw new Error(`${root}: the build failed`);
  const dataDir = mkdtempSync(join(tmpdir(), "bench-start-all-"));
  try {
    const runs: StartRun[] = [];
    for (let i = 0; i <= options.restarts; i++) {
      runs.push(await startOnce(root, dataDir, options.idleMs));
    }
    return runs;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Section f: start:all's time to up and its members' idle memory. */
export async function runStartAll(config: BenchConfig): Promise<SectionResult> {
  const root = process.env.START_ALL_ROOT ?? projectRoot();
  const runs = await measureStartAll({
    root,
    restarts: config.mode === "full" ? 3 : 1,
    // Idle: a member collects what starting up left behind 5 to 10 s after it serves
    // (mesh/process/idle-gc.ts).
    idleMs: config.mode === "full" ? 15_000 : 1_000,
  });
  const warm = runs.slice(1);
  const warmUpMs = median(warm.map((r) => r.upMs));
  const rss = (r: StartRun) => r.members.map((m) => m.rssMb);
  const maxRss = Math.max(...warm.flatMap(rss));
  const rows = runs.map((r, i) => [
    i === 0 ? "first start" : `restart ${i}`,
    Math.round(r.upMs),
    round3(r.totalCpuMs / 1000),
    r.members.length,
    round3(Math.max(...rss(r))),
    round3(median(rss(r))),
    round3(median(r.members.map((m) => m.fileMb))),
    round3(median(r.members.map((m) => m.pssMb))),
    round3(median(r.members.map((m) => m.privateMb))),
  ]);
  const last = runs.at(-1)!;
  const leftOver = runs.reduce((sum, r) => sum + r.leftAfterSigterm, 0);
  return {
    id: "f",
    title: "npm run start:all: time to up, idle memory per member",
    setup:
      `npm run start:all${root === projectRoot() ? "" : ` in ${root}`} on free ports with dist/ ` +
      `current: a first start on a new data folder, then ${warm.length} restarts on it. Up: ` +
      `from spawning npm to "${UP}". Memory: VmRSS of each member after the idle wait.`,
    columns: [
      "run",
      "up ms",
      "CPU s to up",
      "members",
      "max MB",
      "median MB",
      "of it files MB",
      "median PSS MB",
      "median private MB",
    ],
    rows,
    figures: {
      firstStartMs: Math.round(runs[0].upMs),
      restartMs: Math.round(warmUpMs),
      restartCpuS: round3(median(warm.map((r) => r.totalCpuMs / 1000))),
      maxMemberRssMb: round3(maxRss),
      leftAfterSigterm: leftOver,
      medianMemberRssMb: round3(median(warm.flatMap(rss))),
      maxMemberPssMb: round3(Math.max(...warm.flatMap((r) => r.members.map((m) => m.pssMb)))),
      maxMemberPrivateMb: round3(
        Math.max(...warm.flatMap((r) => r.members.map((m) => m.privateMb))),
      ),
    },
    targets: [
      {
        name: "restart, ms to up",
        value: Math.round(warmUpMs),
        target: `≤ ${TARGET_UP_MS}`,
        met: warmUpMs <= TARGET_UP_MS,
      },
      {
        name: "largest member, MB resident",
        value: round3(maxRss),
        target: `≤ ${TARGET_RSS_MB}`,
        met: maxRss <= TARGET_RSS_MB,
      },
      {
        name: "processes left after SIGTERM to npm, all runs",
        value: leftOver,
        target: "0",
        met: leftOver === 0,
      },
    ],
    notes: [
      `Per member at the last restart: ${last.members.map((m) => `${m.label} ${round3(m.rssMb)} MB, ${round3(m.cpuMs / 1000)} s CPU`).join("; ")}.`,
      `CPU s to up: what the processes alive at up had used (npm, start:all, the members; not ` +
        `a build that had already exited). Over ${cpus().length} cores it bounds the time to up ` +
        `from below: ${round3(median(warm.map((r) => r.totalCpuMs)) / 1000 / cpus().length)} s here.`,
      "Files MB: pages of mapped files (the node binary, mostly), the same pages in every member.",
      "PSS: each member's share of what it maps (a page mapped by n processes counts 1/n); " +
        "private: pages only it maps. The members' PSS add up to what the mesh uses.",
    ],
  };
}
