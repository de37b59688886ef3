import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { formatLine } from "./log-format";

/** A service process to run. */
export interface ProcessSpec {
  /** Label for its log lines, for example "users". */
  label: string;
  /** Compiled entry point, for example dist/services/users/main.js. */
  script: string;
  /** Arguments after the script. */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

/** Options for {@link createSupervisor}. */
export interface SupervisorOptions {
  /** Where formatted log lines go. Defaults to stdout. */
  write?: (line: string) => void;
  /** Colour the labels. Defaults to whether stdout is a terminal. */
  color?: boolean;
  /** Called when a process exits that was not asked to stop. */
  onUnexpectedExit?: (label: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** How long a process may take to exit after SIGTERM before SIGKILL. Defaults to 15 seconds. */
  killAfterMs?: number;
}

/** Runs service processes, labels their logs, and stops them all together. */
export interface Supervisor {
  start(spec: ProcessSpec): ChildProcess;
  /** SIGTERM to each running process, SIGKILL to any still running after `killAfterMs`. */
  stopAll(): Promise<void>;
  readonly processes: ReadonlyMap<string, ChildProcess>;
}

// Above a service's drain delay (1 s) plus its shutdown grace (10 s) in mesh.yaml.
const DEFAULT_KILL_AFTER_MS = 15_000;

/**
 * `MESH_CPU_PROFILE_DIR=<dir>` starts every member under `node --cpu-prof`, writing one
 * `.cpuprofile` per process into `<dir>` when it stops (open it in Chrome DevTools).
 */
function profileArgs(): string[] {
  const dir = process.env.MESH_CPU_PROFILE_DIR;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : [];
}

export function createSupervisor(options: SupervisorOptions = {}): Supervisor {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const color = options.color ?? process.stdout.isTTY;
  const processes = new Map<string, ChildProcess>();
  const stopping = new Set<ChildProcess>();
  const width = 10;

  const exited = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once("exit", () => resolve()));

  return {
    processes,

    start(spec) {
      const child = spawn(process.execPath, [...profileArgs(), spec.script, ...(spec.args ?? [])], {
        env: { ...process.env, ...spec.env, MESH_SUPERVISED: "1" },
        // stdin is a pipe the child watches (see mesh/shutdown.ts); its own process group, so
        // that Ctrl-C reaches only us and each service then gets exactly one SIGTERM.
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      });
      processes.set(spec.label, child);
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on("line", (line) =>
          write(formatLine(spec.label, line, color, width)),
        );
      }
      child.once("exit", (code, signal) => {
        if (!stopping.has(child)) options.onUnexpectedExit?.(spec.label, code, signal);
      });
      return child;
    },

    async stopAll() {
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
