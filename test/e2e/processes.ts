import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { loadTopology } from "../../mesh";
import { createMeshIdentity, operatorOf, type DialOptions } from "../../mesh/identity";

export { freeGatewayEnv, freeInstancePorts, freePorts } from "../../scripts/ports";

/** A running start:all, with everything it printed so far. */
export interface StartAll {
  child: ChildProcess;
  output(): string;
  /** Resolves when the output contains `text`; rejects after `timeoutMs` or if it exits first. */
  waitFor(text: string, timeoutMs: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts start:all as `npm run start:all` runs it (`node dist/bundle/scripts/start-all.js`),
 * with extra environment and arguments.
 */
export function startAll(root: string, env: NodeJS.ProcessEnv, args: string[] = []): StartAll {
  return startCommand(
    [process.execPath, join(root, "dist", "bundle", "scripts", "start-all.js"), ...args],
    root,
    env,
  );
}

/**
 * Starts any command line that runs start:all (`npm run start:all`, or the same under
 * `timeout`, a shell or a new PID namespace), in `root`, with extra environment.
 */
export function startCommand(command: string[], root: string, env: NodeJS.ProcessEnv): StartAll {
  const child = spawn(command[0], command.slice(1), {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    exited,
    output: () => text,
    waitFor: (wanted, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setInterval(() => {
          if (text.includes(wanted)) done(resolve);
          else if (child.exitCode !== null)
            done(() => reject(new Error(`start:all exited first:\n${text}`)));
          else if (Date.now() > giveUp)
            done(() => reject(new Error(`no "${wanted}" after ${timeoutMs} ms:\n${text}`)));
        }, 50);
        const giveUp = Date.now() + timeoutMs;
        const done = (then: () => void): void => {
          clearInterval(timer);
          then();
        };
      }),
  };
}

/** Pids of live processes whose environment has `NAME=value` (root can read every environ). */
export function pidsWithEnv(name: string, value: string): number[] {
  const wanted = `${name}=${value}`;
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(wanted);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Whether process `pid` still exists (a zombie not yet reaped, or a dead one, is gone). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** The children of process `pid`, from /proc (Linux 3.5 and later). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .split(" ")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Pids of the processes listening on TCP `port` (any address), from /proc/net/tcp{,6} and each
 * process's open sockets; empty when nothing listens.
 */
export function listenersOf(port: number): number[] {
  const LISTEN = "0A";
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1]?.split(":")[1];
      if (local && parseInt(local, 16) === port && fields[3] === LISTEN) inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return [];
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readdirSync(`/proc/${pid}/fd`).some((fd) => {
          const link = readlinkSync(`/proc/${pid}/fd/${fd}`, { encoding: "utf8" });
          return inodes.has(/^socket:\[(\d+)\]$/.exec(link)?.[1] ?? "");
        });
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The command line of a process, or "" once it is gone. */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** How the operator dials `service` of a mesh started with `MESH_DATA_DIR=dataDir` (its certificates). */
export function operatorDial(dataDir: string, service: string): DialOptions {
  const { security } = loadTopology({ MESH_DATA_DIR: dataDir });
  return createMeshIdentity(security, operatorOf(security)).dialOptions(service);
}
