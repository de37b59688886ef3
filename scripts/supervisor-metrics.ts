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

/** The supervisor's metrics server. */
export interface SupervisorMetricsServer {
  /** `http://127.0.0.1:<port>/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves the supervisor's restarts, crashes and crash loops for Prometheus and the dashboard
 * at `http://127.0.0.1:<port>/metrics` (port 0: any free one). Bound to loopback: it is for
 * the operator's Prometheus and the gateway on this machine, and tells nothing a member's own
 * metrics would not. The server does not keep the process alive.
 */
export function serveSupervisorMetrics(
  supervisor: Supervisor,
  port: number,
): Promise<SupervisorMetricsServer> {
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
      resolve({
        url: `http://127.0.0.1:${bound}/metrics`,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
