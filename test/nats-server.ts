import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../scripts/ports";
import { toolAvailable } from "./external-tools";

/** A nats-server with JetStream that a test set-up started, on a free port and a temp dir. */
export interface TestNatsServer {
  url: string;
  stop(): Promise<void>;
}

const BINARY = "nats-server";
const START_TIMEOUT_MS = 15_000;

/**
 * Whether Debian's nats-server is installed. When it is not: under CI (process.env.CI) that
 * is a broken set-up and this throws; elsewhere the caller skips its tests with this message.
 */
export function natsServerAvailable(): boolean {
  return toolAvailable(spawnSync(BINARY, ["--version"]).status === 0, BINARY, "nats-server");
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connectTcp(port, "127.0.0.1");
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });

/** Starts `nats-server -js` on a free port with its store in a temp dir; stop() removes both. */
export async function startNatsServer(): Promise<TestNatsServer> {
  const [port] = await freePorts(1);
  const dir = mkdtempSync(join(tmpdir(), "nats-"));
  const child: ChildProcess = spawn(
    BINARY,
    ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", dir],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const give = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > give) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${BINARY} did not start on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
