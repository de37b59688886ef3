import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { formatLine } from "./log-format";

/** A service process to run. */
export interface ProcessSpec {
  /** Label for its log lines, for example "users". */
  label: string;
  /** Compiled entry point, for example dist/bundle/services/users/main.js. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /**
   * A command that runs node for it, for example `["ip", "netns", "exec", "m-orders-1"]`
   * (it must exec node in place, so that the process id stays node's). Defaults to none.
   */
  wrapper?: string[];
}

/** How exited members come back; see {@link SupervisorOptions.restart}. */
export interface RestartPolicy {
  /** Delay before restarting a member that ran briefly. Defaults to 100 ms. */
  initialDelayMs?: number;
  /** The delay doubles with each brief run in a row, up to this. Defaults to 30 seconds. */
  maxDelayMs?: number;
  /** Each delay is moved by up to ± this share, at random. Defaults to 0.2. */
  jitter?: number;
  /** A run at least this long starts the backoff again from the initial delay. Defaults to 10 s. */
  stableAfterMs?: number;
  /** This many crashes within `crashLoopWindowMs` is a crash loop. Defaults to 4. */
  crashLoopCrashes?: number;
  /** Defaults to 60 seconds. */
  crashLoopWindowMs?: number;
  /** Defaults to Math.random. */
  random?: () => number;
}

/**
 * How start:all (and the chaos runs, which run the mesh as start:all does) restart members:
 * after 0.1 s, doubling with each brief run in a row up to 30 s, ±20% jitter, for as long as
 * the mesh runs. Four crashes within a minute is a crash loop: reported loudly, never a reason
 * to stop the members that serve.
 */
export const MESH_RESTART_POLICY: Readonly<Required<Omit<RestartPolicy, "random">>> = {
  initialDelayMs: 100,
  maxDelayMs: 30_000,
  jitter: 0.2,
  stableAfterMs: 10_000,
  crashLoopCrashes: 4,
  crashLoopWindowMs: 60_000,
};

/** A member's exit, as the supervisor tells it. */
export interface MemberExit {
  label: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * It stopped by itself with code 0: a service exits so after a SIGTERM or SIGINT, once it
   * drained. Not a crash, and not counted towards a crash loop.
   */
  clean: boolean;
  /** How long that process ran. */
  ranMs: number;
  /** When it will be started again, or undefined if it will not (no restart policy). */
  restartInMs?: number;
  /** Crashes (exits that were not clean) within the crash-loop window, this one included. */
  recentCrashes: number;
  /** Whether it is crash-looping (and so restarted with longer and longer delays). */
  crashLoop: boolean;
}

/** What the supervisor counts of a member, for its metrics. */
export interface MemberRecord {
  restarts: number;
  crashes: number;
  crashLoop: boolean;
  running: boolean;
}

/** Options for {@link createSupervisor}. */
export interface SupervisorOptions {
  /** Where formatted log lines go. Defaults to stdout. */
  write?: (line: string) => void;
  /** Colour the labels. Defaults to whether stdout is a terminal. */
  color?: boolean;
  /** Called when a process exits that was not asked to stop. */
  onUnexpectedExit?: (label: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Called for every exit that was not asked for, with what happens next. */
  onExit?: (exit: MemberExit) => void;
  /** Called when an exited member is started again. */
  onRestart?: (label: string, restarts: number) => void;
  /**
   * Restart members that exit, for as long as the supervisor runs, with exponential backoff
   * and jitter. Defaults to off: the caller restarts (or not) in `onUnexpectedExit`.
   */
  restart?: RestartPolicy;
  /** How long a process may take to exit after SIGTERM before SIGKILL. Defaults to 15 seconds. */
  killAfterMs?: number;
}

/** Runs service processes, labels their logs, restarts them, and stops them all together. */
export interface Supervisor {
  start(spec: ProcessSpec): ChildProcess;
  /** SIGTERM to each running process, SIGKILL to any still running after `killAfterMs`. */
  stopAll(): Promise<void>;
  readonly processes: ReadonlyMap<string, ChildProcess>;
  /** Restarts, crashes and crash loops per member, since the supervisor started. */
  records(): ReadonlyMap<string, MemberRecord>;
  /** The records in Prometheus's text format (`mesh_supervisor_*`, label `member`). */
  metricsText(): string;
}

// Above a service's drain delay (1 s) plus its shutdown grace (10 s) in mesh.yaml.
const DEFAULT_KILL_AFTER_MS = 15_000;
// Short first delay: a killed instance should be back within about a second (issue 14).
const DEFAULTS = MESH_RESTART_POLICY;

/**
 * `MESH_CPU_PROFILE_DIR=<dir>` starts every member under `node --cpu-prof`, writing one
 * `.cpuprofile` per process into `<dir>` when it stops (open it in Chrome DevTools).
 */
function profileArgs(): string[] {
  const dir = process.env.MESH_CPU_PROFILE_DIR;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

/** A member's restart state: its spec, its backoff and its recent crashes. */
interface Member {
  spec: ProcessSpec;
  startedAt: number;
  briefRuns: number;
  crashTimes: number[];
  record: MemberRecord;
  timer?: NodeJS.Timeout;
}

/**
 * The delay before restart number `briefRuns` (0 for the first brief run in a row): doubling
 * from the initial delay up to the cap, moved by ± jitter.
 */
export function restartDelay(policy: RestartPolicy, briefRuns: number): number {
  const { initialDelayMs, maxDelayMs, jitter } = { ...DEFAULTS, ...policy };
  const random = policy.random ?? Math.random;
  const base = Math.min(maxDelayMs, initialDelayMs * 2 ** briefRuns);
  return Math.round(base * (1 + jitter * (2 * random() - 1)));
}

export function createSupervisor(options: SupervisorOptions = {}): Supervisor {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const color = options.color ?? process.stdout.isTTY;
  const processes = new Map<string, ChildProcess>();
  const members = new Map<string, Member>();
  const stopping = new Set<ChildProcess>();
  let stopped = false;
  const width = 10;
  const policy = options.restart && { ...DEFAULTS, ...options.restart };

  const exited = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once("exit", () => resolve()));

  /** What to do about a member that exited by itself. */
  const onExit = (member: Member, code: number | null, signal: NodeJS.Signals | null): void => {
    const { label } = member.spec;
    const now = Date.now();
    const ranMs = now - member.startedAt;
    const clean = code === 0;
    member.record.running = false;
    options.onUnexpectedExit?.(label, code, signal);
    if (stopped) return;
    if (!clean) {
      member.record.crashes++;
      member.crashTimes.push(now);
    }
    let restartInMs: number | undefined;
    let recentCrashes = 0;
    if (policy) {
      member.crashTimes = member.crashTimes.filter((t) => now - t < policy.crashLoopWindowMs);
      recentCrashes = member.crashTimes.length;
      member.record.crashLoop = recentCrashes >= policy.crashLoopCrashes;
      // A run that lasted starts the backoff again; each brief one in a row doubles it.
      member.briefRuns = ranMs >= policy.stableAfterMs ? 0 : member.briefRuns + 1;
      restartInMs = restartDelay(options.restart ?? {}, member.briefRuns);
      member.timer = setTimeout(() => {
        member.timer = undefined;
        if (stopped) return;
        member.record.restarts++;
        launch(member.spec);
        options.onRestart?.(label, member.record.restarts);
      }, restartInMs);
    }
    options.onExit?.({
      label,
      code,
      signal,
      clean,
      ranMs,
      restartInMs,
      recentCrashes,
      crashLoop: member.record.crashLoop,
    });
  };

  const launch = (spec: ProcessSpec): ChildProcess => {
    const [command, ...prefix] = [...(spec.wrapper ?? []), process.execPath];
    const child = spawn(command, [...prefix, ...profileArgs(), spec.script, ...(spec.args ?? [])], {
      env: { ...process.env, ...spec.env, MESH_SUPERVISED: "1" },
      // stdin is a pipe the child watches (see mesh/shutdown.ts); its own process group, so
      // that Ctrl-C reaches only us and each service then gets exactly one SIGTERM.
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    processes.set(spec.label, child);
    let member = members.get(spec.label);
    if (!member) {
      member = {
        spec,
        startedAt: 0,
        briefRuns: 0,
        crashTimes: [],
        record: { restarts: 0, crashes: 0, crashLoop: false, running: false },
      };
      members.set(spec.label, member);
    }
    member.spec = spec;
    member.startedAt = Date.now();
    member.record.running = true;
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (line) =>
        write(formatLine(spec.label, line, color, width)),
      );
    }
    const known = member;
    child.once("exit", (code, signal) => {
      if (stopping.has(child)) {
        known.record.running = false;
        return;
      }
      onExit(known, code, signal);
    });
    return child;
  };

  return {
    processes,
    start: launch,

    records: () => new Map([...members].map(([label, m]) => [label, { ...m.record }])),

    metricsText() {
      const rows = [...members].map(([label, m]) => ({ label, ...m.record }));
      const family = (
        name: string,
        type: string,
        help: string,
        value: (r: MemberRecord) => number,
      ) => [
        `# HELP ${name} ${help}`,
        `# TYPE ${name} ${type}`,
        ...rows.map((r) => `${name}{member="${r.label}"} ${value(r)}`),
      ];
      return [
        ...family(
          "mesh_supervisor_restarts_total",
          "counter",
          "Restarts of a member after it exited.",
          (r) => r.restarts,
        ),
        ...family(
          "mesh_supervisor_crashes_total",
          "counter",
          "Exits of a member that were not clean (code 0).",
          (r) => r.crashes,
        ),
        ...family(
          "mesh_supervisor_crash_looping",
          "gauge",
          "1 while a member is crash-looping.",
          (r) => Number(r.crashLoop),
        ),
        ...family(
          "mesh_supervisor_member_running",
          "gauge",
          "1 while a member's process runs.",
          (r) => Number(r.running),
        ),
        "",
      ].join("\n");
    },

    async stopAll() {
      stopped = true;
      for (const member of members.values()) clearTimeout(member.timer);
      const running = [...processes.values()].filter(
        (c) => c.exitCode === null && c.signalCode === null,
      );
      for (const child of running) {
        stopping.add(child);
        child.kill("SIGTERM");
      }
      const timer = setTimeout(() => {
        for (const child of running)
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }, options.killAfterMs ?? DEFAULT_KILL_AFTER_MS);
      await Promise.all(running.map(exited));
      clearTimeout(timer);
      for (const child of processes.values()) child.stdin?.destroy();
    },
  };
}
