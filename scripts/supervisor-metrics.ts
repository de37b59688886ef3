import { createServer } from "node:http";
import type { Supervisor } from "./supervisor";

/**
 * The supervisor's port: `SUPERVISOR_PORT`, or the one after the gateway's (8081 by default).
 *
 * @throws Error naming SUPERVISOR_PORT when it is not a port number.
 */
export function supervisorPort(gatewayUrl: string, env: NodeJS.ProcessEnv = process.env): number {
  const value = env.SUPERVISOR_PORT ?? String(Number(new URL(gatewayUrl).port) + 1);
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`SUPERVISOR_PORT: expected a port number, got "${value}"`);
  }
  return port;
}

/**
 * Serves the supervisor's restarts, crashes and crash loops for Prometheus at
 * `http://127.0.0.1:<port>/metrics`; resolves to that URL. Bound to loopback: it is for the
 * operator's Prometheus on this machine, and tells nothing a member's own metrics would not.
 * The server does not keep the process alive.
 */
export function serveSupervisorMetrics(supervisor: Supervisor, port: number): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("only /metrics here\n");
      return;
    }
    res
      .writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
      .end(supervisor.metricsText());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.unref();
      const { port: bound } = server.address() as { port: number };
      resolve(`http://127.0.0.1:${bound}/metrics`);
    });
  });
}
