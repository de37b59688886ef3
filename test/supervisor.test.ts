import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createSupervisor,
  restartDelay,
  type MemberExit,
  type RestartPolicy,
  type Supervisor,
} from "../scripts/supervisor";

// Real processes: small node programs that crash, exit cleanly, or serve until told to stop.
const PROGRAMS = {
  crash: "setTimeout(() => process.exit(3), 20);",
  steady: "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));",
  // Exits 0 on its own a moment after it starts, as a service does after a SIGTERM drain.
  clean: "setTimeout(() => process.exit(0), 20);",
};
const FAST: RestartPolicy = {
  initialDelayMs: 50,
  maxDelayMs: 400,
  jitter: 0,
  stableAfterMs: 5_000,
  crashLoopCrashes: 4,
  crashLoopWindowMs: 30_000,
};

const waitUntil = async (done: () => boolean, timeoutMs: number): Promise<void> => {
  const giveUp = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > giveUp) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe("the supervisor", () => {
  let dir: string;
  let supervisor: Supervisor | undefined;
  const script = (name: keyof typeof PROGRAMS): string => join(dir, `${name}.js`);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mesh-supervisor-"));
    for (const [name, source] of Object.entries(PROGRAMS)) {
      writeFileSync(join(dir, `${name}.js`), source);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    await supervisor?.stopAll();
    supervisor = undefined;
  });

  it("restarts a crashing member with doubling delays, up to the cap, while a healthy one keeps running", async () => {
    const exits: MemberExit[] = [];
    supervisor = createSupervisor({
      write: () => undefined,
      restart: FAST,
      onExit: (exit) => exits.push(exit),
    });
    const healthy = supervisor.start({ label: "users", script: script("steady") });
    supervisor.start({ label: "orders-2", script: script("crash") });

    await waitUntil(() => exits.length >= 6, 20_000);

    expect(exits.slice(0, 6).map((e) => e.restartInMs)).toEqual([100, 200, 400, 400, 400, 400]);
    expect(exits.every((e) => e.label === "orders-2" && e.code === 3 && !e.clean)).toBe(true);
    expect(healthy.exitCode).toBeNull();
    expect(supervisor.processes.get("users")).toBe(healthy);
    expect(supervisor.records().get("orders-2")?.restarts).toBeGreaterThanOrEqual(5);
  });

  it("calls four crashes within the window a crash loop, in its exits and its metrics, and stops no one", async () => {
    const exits: MemberExit[] = [];
    supervisor = createSupervisor({
      write: () => undefined,
      restart: FAST,
      onExit: (exit) => exits.push(exit),
    });
    const healthy = supervisor.start({ label: "users", script: script("steady") });
    supervisor.start({ label: "orders-2", script: script("crash") });

    await waitUntil(() => exits.length >= 4, 20_000);

    expect(exits.map((e) => e.crashLoop).slice(0, 4)).toEqual([false, false, false, true]);
    expect(exits[3].recentCrashes).toBe(4);
    const metrics = supervisor.metricsText();
    expect(metrics).toContain('mesh_supervisor_crash_looping{member="orders-2"} 1');
    expect(metrics).toContain('mesh_supervisor_crash_looping{member="users"} 0');
    expect(metrics).toMatch(/mesh_supervisor_crashes_total\{member="orders-2"\} [4-9]/);
    expect(metrics).toContain('mesh_supervisor_member_running{member="users"} 1');
    expect(healthy.exitCode).toBeNull();
  });

  it("restarts a member that exited cleanly (code 0) without counting it as a crash", async () => {
    const exits: MemberExit[] = [];
    supervisor = createSupervisor({
      write: () => undefined,
      restart: FAST,
      onExit: (exit) => exits.push(exit),
    });
    supervisor.start({ label: "inventory-1", script: script("clean") });

    await waitUntil(() => exits.length >= 5, 20_000);

    expect(exits.every((e) => e.clean && e.code === 0)).toBe(true);
    expect(exits.every((e) => !e.crashLoop && e.recentCrashes === 0)).toBe(true);
    expect(supervisor.records().get("inventory-1")).toMatchObject({ crashes: 0, crashLoop: false });
  });

  it("brings back a member killed from outside (SIGKILL), after the initial delay", async () => {
    const exits: MemberExit[] = [];
    const restarted: number[] = [];
    supervisor = createSupervisor({
      write: () => undefined,
      restart: { ...FAST, stableAfterMs: 100 },
      onExit: (exit) => exits.push(exit),
      onRestart: () => restarted.push(Date.now()),
    });
    const first = supervisor.start({ label: "inventory-2", script: script("steady") });
    await new Promise((resolve) => setTimeout(resolve, 300));

    const killedAt = Date.now();
    first.kill("SIGKILL");
    await waitUntil(() => restarted.length === 1, 5_000);

    // It ran longer than stableAfterMs: the backoff starts over from the initial delay.
    expect(exits[0]).toMatchObject({ signal: "SIGKILL", clean: false, restartInMs: 50 });
    expect(restarted[0] - killedAt).toBeLessThan(1_000);
    const second = supervisor.processes.get("inventory-2");
    expect(second?.pid).not.toBe(first.pid);
    expect(second?.exitCode).toBeNull();
  });

  it("starts nothing again once stopAll has begun, even a restart already scheduled", async () => {
    const restarted: string[] = [];
    supervisor = createSupervisor({
      write: () => undefined,
      restart: { ...FAST, initialDelayMs: 300 },
      onRestart: (label) => restarted.push(label),
    });
    const crashing = supervisor.start({ label: "orders-1", script: script("crash") });
    await new Promise((resolve) => crashing.once("exit", resolve));

    await supervisor.stopAll();
    await new Promise((resolve) => setTimeout(resolve, 500));

    expect(restarted).toEqual([]);
    expect(supervisor.records().get("orders-1")?.running).toBe(false);
  });

  it("spreads restart delays by the jitter, both ways, around the doubling backoff", () => {
    const low = restartDelay({ ...FAST, jitter: 0.2, random: () => 0 }, 1);
    const high = restartDelay({ ...FAST, jitter: 0.2, random: () => 0.999_999 }, 1);
    const capped = restartDelay({ ...FAST, jitter: 0 }, 30);

    expect(low).toBe(80);
    expect(high).toBe(120);
    expect(capped).toBe(400);
  });
});
