import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why HAProxy cannot be used here, or undefined when it can. */
export function haproxyMissing(): string | undefined {
  const found = spawnSync("haproxy", ["-v"], { stdio: "ignore" });
  return found.error || found.status !== 0
    ? "haproxy is not installed (Debian: apt-get install -y haproxy)"
    : undefined;
}

/** One HAProxy process forwarding HTTP/2 from a port to an address. */
export interface Sidecar {
  pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
// Plenty for the benchmark's few connections, and low enough that HAProxy needs no more file
// descriptors than a default ulimit gives (it refuses to start when it cannot raise it).
const MAX_CONNECTIONS = 4_096;

/**
 * A sidecar as a mesh of sidecars deploys it, reduced to its proxying: `mode http` with
 * `proto h2` on both sides, so each gRPC call is parsed and forwarded as an HTTP/2 stream
 * over connections kept open. One thread, as a sidecar is usually given little CPU.
 */
function config(listenPort: number, upstream: string): string {
  return `global
  maxconn ${MAX_CONNECTIONS}
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend inbound
  bind 127.0.0.1:${listenPort} proto h2
  default_backend upstream
backend upstream
  server target ${upstream} proto h2
`;
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });

/** Starts HAProxy in the foreground, forwarding 127.0.0.1:`listenPort` to `upstream`. */
export async function startSidecar(listenPort: number, upstream: string): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), "bench-haproxy-"));
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config(listenPort, upstream));
  // -db: one process in the foreground, so that its pid is the one doing the work. HAProxy
  // cannot notice that we died, so a shell holds it: when our end of the shell's stdin
  // closes (stop(), or this process dying however it dies), the shell kills it and removes
  // its folder.
  const child: ChildProcess = spawn(
    "sh",
    [
      "-c",
      'haproxy -db -f "$1" & echo "$!"; read _; kill "$!"; wait "$!"; rm -rf "$2"',
      "sh",
      file,
      dir,
    ],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const pid = await new Promise<number>((resolve) =>
    child.stdout?.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
  );
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once("exit", done);
      child.stdin?.end();
    });
  const giveUp = Date.now() + READY_TIMEOUT_MS;
  while (!(await portOpen(listenPort))) {
    if (child.exitCode !== null || !processAlive(pid) || Date.now() > giveUp) {
      await stop();
      throw new Error(`haproxy did not listen on ${listenPort}: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { pid, stop };
}
