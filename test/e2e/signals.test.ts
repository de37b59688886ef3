import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTopology, projectRoot } from "../../mesh/config";
import { adminPortOf } from "../../mesh/telemetry";
import { portOpen } from "../../scripts/health-wait";
import { toolAvailable } from "../external-tools";
import {
  alive,
  childrenOf,
  commandLine,
  freeGatewayEnv,
  freeInstancePorts,
  listenersOf,
  pidsWithEnv,
  startCommand,
  type StartAll,
} from "./processes";

const STARTUP_MS = 90_000;
// Above the supervisor's SIGKILL after 15 s, so a member that ignored SIGTERM shows as a
// failure here rather than as a slow pass.
const STOP_MS = 20_000;
const POLL_MS = 100;
const NAMES = ["users", "inventory", "payments", "orders", "notifications"] as const;
// As many instances of each as mesh.yaml says (inventory, payments and orders run two), each
// instancePortStep (100) ports above the one before.
const { services } = loadTopology();
const INSTANCES = NAMES.map((name) => services[name].instances.length);
const NPM_START = ["npm", "run", "-s", "start:all"];
/** Every instance, and the gateway. */
const MEMBERS = INSTANCES.reduce((sum, n) => sum + n, 0) + 1;

/** A start:all started one way or another, on free ports and a fresh data folder. */
interface Launched {
  run: StartAll;
  dataDir: string;
  /** Every port the mesh binds: gRPC, admin (metrics) and the gateway's. */
  ports: number[];
  /** The services' and the gateway's processes. */
  members: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function launch(command: string[]): Promise<Launched> {
  const dataDir = mkdtempSync(join(tmpdir(), "mesh-signals-"));
  const grpc = await freeInstancePorts(NAMES.length, 100);
  const gateway = await freeGatewayEnv();
  const env: NodeJS.ProcessEnv = { MESH_DATA_DIR: dataDir, ...gateway };
  NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(grpc[i])));
  const instances = grpc.flatMap((port, i) =>
    Array.from({ length: INSTANCES[i] }, (_, instance) => port + 100 * instance),
  );
  const ports = [
    ...instances,
    ...instances.map(adminPortOf),
    ...Object.values(gateway).map(Number),
  ];
  const run = startCommand(command, projectRoot(), env);
  const launched: Launched = { run, dataDir, ports, members: [] };
  try {
    await run.waitFor("Press Ctrl-C", STARTUP_MS);
    launched.members = pidsWithEnv("MESH_DATA_DIR", dataDir).filter((pid) =>
      commandLine(pid).includes("dist/bundle/services/"),
    );
    expect(launched.members).toHaveLength(MEMBERS);
    for (const port of ports)
      expect({ port, open: await portOpen(`127.0.0.1:${port}`) }).toEqual({ port, open: true });
    return launched;
  } catch (err) {
    cleanUp(launched);
    throw err;
  }
}

/** The pid of the process whose command line contains `text`, among `dataDir`'s. */
function pidOf(launched: Launched, text: string): number {
  const pid = pidsWithEnv("MESH_DATA_DIR", launched.dataDir).find((p) =>
    commandLine(p).includes(text),
  );
  if (pid === undefined) throw new Error(`no process running ${text}`);
  return pid;
}

/**
 * Waits until no process of the mesh is left, then checks that none is, and that none of them
 * holds any of its ports. A process that is exiting may already hide its environment while
 * /proc still lists it, so the members are also followed by pid. A port found open again is
 * looked up: once the mesh is gone, the kernel may hand it to another program here.
 */
async function expectNothingLeft(launched: Launched): Promise<void> {
  const left = () =>
    [...new Set([...pidsWithEnv("MESH_DATA_DIR", launched.dataDir), ...launched.members])]
      .filter(alive)
      .sort();
  const giveUp = Date.now() + STOP_MS;
  while (left().length > 0 && Date.now() < giveUp) await sleep(POLL_MS);
  expect(left().map((pid) => `${pid} ${commandLine(pid)}`)).toEqual([]);
  for (const port of launched.ports) {
    const holders = (await portOpen(`127.0.0.1:${port}`)) ? listenersOf(port) : [];
    const mesh = pidsWithEnv("MESH_DATA_DIR", launched.dataDir);
    const ours = holders.filter((pid) => launched.members.includes(pid) || mesh.includes(pid));
    expect({ port, heldBy: ours.map(commandLine) }).toEqual({ port, heldBy: [] });
  }
}

/** Kills whatever a failed test left running, by pid; only this test's processes. */
function cleanUp(launched: Launched | undefined): void {
  if (!launched) return;
  for (const pid of pidsWithEnv("MESH_DATA_DIR", launched.dataDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }
  rmSync(launched.dataDir, { recursive: true, force: true });
}

// A new PID namespace is what `docker run` gives the image's command: npm becomes PID 1, which
// the kernel sends only the signals it handles, and whose exit kills everything left.
const unshareWorks = spawnSync("unshare", ["--pid", "--fork", "--kill-child", "true"]).status === 0;

describe("npm run start:all stops everything on SIGINT and SIGTERM, however it was started", () => {
  jest.setTimeout(STARTUP_MS + 2 * STOP_MS);
  let launched: Launched | undefined;

  afterEach(() => {
    cleanUp(launched);
    launched = undefined;
  });

  /** Who receives the signal: npm itself, or the program start:all was started under. */
  type Target = (launched: Launched) => number;
  const npm: Target = (l) => l.run.child.pid!;
  const childOfWrapper: Target = (l) => childrenOf(l.run.child.pid!)[0];

  it.each<[string, string[], Target, NodeJS.Signals]>([
    ["through npm: SIGTERM to npm (systemd, an IDE's stop button)", NPM_START, npm, "SIGTERM"],
    ["through npm: SIGINT to npm", NPM_START, npm, "SIGINT"],
    [
      "under timeout, which passes its SIGTERM on to npm",
      ["timeout", "600", ...NPM_START],
      npm,
      "SIGTERM",
    ],
    [
      "as a background job of a shell script (`npm run start:all &`; SIGINT is ignored there)",
      ["bash", "-c", `${NPM_START.join(" ")} & wait`],
      childOfWrapper,
      "SIGINT",
    ],
  ])("%s", async (_how, command, target, signal) => {
    launched = await launch(command);
    const pid = target(launched);
    expect(commandLine(pid)).toMatch(/^(npm|timeout)/);

    process.kill(pid, signal);
    const { code } = await launched.run.exited;

    expect(code).toBe(0);
    expect(launched.run.output()).toContain("All services stopped.");
    await expectNothingLeft(launched);
  });

  (toolAvailable(unshareWorks, "unshare --pid (util-linux, run as root)", "util-linux")
    ? it
    : it.skip)("as PID 1 of a container: SIGTERM, as docker stop sends it", async () => {
    launched = await launch(["unshare", "--pid", "--fork", "--kill-child", ...NPM_START]);
    const pid1 = childOfWrapper(launched);
    expect(commandLine(pid1)).toMatch(/^npm/);

    process.kill(pid1, "SIGTERM");
    const { code } = await launched.run.exited;

    expect(code).toBe(0);
    // Graceful: PID 1's exit would SIGKILL everything anyway; the members drained first.
    expect(launched.run.output()).toContain("All services stopped.");
    await expectNothingLeft(launched);
  });

  it("members exit by themselves when start:all is killed with SIGKILL", async () => {
    launched = await launch(NPM_START);
    const supervisor = pidOf(launched, "dist/bundle/scripts/start-all.js");

    process.kill(supervisor, "SIGKILL");
    await launched.run.exited;

    // Each member's stdin is a pipe from start:all: its end closing is the member's signal.
    await expectNothingLeft(launched);
  });
});
