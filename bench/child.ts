import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";

/** A process started by the suite, stopped by it afterwards. */
export interface Child {
  process: ChildProcess;
  /** The line the child printed to say it is ready, e.g. `LISTENING 40123`. */
  ready: string;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * Spawns `node <script> ...args` and resolves once it prints a line starting with `prefix`
 * on stdout; anything on stderr is passed through. Rejects if it exits first, or prints no
 * such line within `timeoutMs` (30 s by default).
 */
export function spawnNode(
  script: string,
  args: readonly string[],
  prefix: string,
  env: NodeJS.ProcessEnv = {},
  timeoutMs = READY_TIMEOUT_MS,
): Promise<Child> {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, ...env },
    // stdin is a pipe the child watches (exitWithParent): it closes when we die, however we die.
    stdio: ["pipe", "pipe", "inherit"],
  });
  const stop = (): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => {
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${script} did not print "${prefix}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${signal ?? `code ${code}`}) before it was ready`));
    });
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      if (!line.startsWith(prefix)) return;
      clearTimeout(timer);
      lines.removeAllListeners("line");
      child.stdout.resume();
      resolve({ process: child, ready: line, stop });
    });
  });
}

/**
 * For a child started by {@link spawnNode}: exit on SIGTERM, and when the parent's end of
 * stdin closes, so that a suite killed with SIGKILL leaves no server behind.
 */
export function exitWithParent(): void {
  process.on("SIGTERM", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
}

/** The name and CPU milliseconds (user plus system) in a /proc `stat` file's text. */
function parseStat(stat: string): { name: string; cpuMs: number } {
  // The name is in parentheses and may contain spaces; the fields after it are plain.
  const close = stat.lastIndexOf(")");
  const fields = stat.slice(close + 2).split(" ");
  // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name and state.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    name: stat.slice(stat.indexOf("(") + 1, close),
    cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND,
  };
}

/** The text of `file` (`stat`, `status`) of each thread of a process that is still running. */
function threadFiles(pid: number, file: string): string[] {
  const texts: string[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      texts.push(readFileSync(`/proc/${pid}/task/${tid}/${file}`, "utf8"));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return texts;
}

/** User plus system CPU a process has used, in milliseconds, from /proc/<pid>/stat (Linux). */
export function processCpuMs(pid: number): number {
  return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8")).cpuMs;
}

/**
 * Context switches of all of a process's threads so far, voluntary and forced, from
 * /proc/<pid>/task/<tid>/status (Linux). A hand-off to a thread pool and back costs several:
 * the worker wakes, the main thread sleeps until the worker's answer wakes it. Threads that
 * have exited are not counted.
 */
export function processSwitches(pid: number): number {
  let total = 0;
  for (const status of threadFiles(pid, "status")) {
    for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) {
      total += Number(m[1]);
    }
  }
  return total;
}

/**
 * CPU milliseconds so far of a process's libuv thread pool (the threads Node names
 * `libuv-worker`), from /proc/<pid>/task/<tid>/stat (Linux): where sqlite3 runs its statements
 * and fsyncs, and where file writes go. Threads that have exited are not counted.
 */
export function threadPoolCpuMs(pid: number): number {
  return threadFiles(pid, "stat")
    .map(parseStat)
    .filter((thread) => thread.name === "libuv-worker")
    .reduce((sum, thread) => sum + thread.cpuMs, 0);
}

// USER_HZ, which is 100 on every Linux platform Node runs on (sysconf(_SC_CLK_TCK)).
const CLOCK_TICKS_PER_SECOND = 100;
