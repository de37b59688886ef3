import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { Logger } from "./logger";
import type { SpanBuffer } from "./span-buffer";

/**
 * A member's admin port is its gRPC port minus this (50051 → 20051): below Linux's ephemeral
 * port range (32768–60999), where an outgoing connection could take the port just before
 * the admin server binds it (seen: start:all failing with EADDRINUSE on 51052).
 */
export const ADMIN_PORT_OFFSET = -30_000;
/** gRPC ports too low to subtract from get their admin port this much higher instead. */
const LOW_PORT_ADMIN_OFFSET = 1_000;
const LOWEST_ADMIN_PORT = 1_024;

/**
 * The admin HTTP port of the member whose gRPC port is `grpcPort`: 30000 below it
 * (50051 → 20051), or 1000 above it for gRPC ports below 31024 (6000 → 7000); 0
 * (ephemeral) stays 0.
 */
export function adminPortOf(grpcPort: number): number {
  if (grpcPort === 0) return 0;
  const below = grpcPort + ADMIN_PORT_OFFSET;
  return below >= LOWEST_ADMIN_PORT ? below : grpcPort + LOW_PORT_ADMIN_OFFSET;
}

/** Options for {@link startAdminServer}. */
export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  registry: Registry;
  spans: SpanBuffer;
  log?: Logger;
}

/** A running admin server. */
export interface AdminServer {
  /** The port bound. */
  readonly port: number;
  close(): Promise<void>;
}

type Reply = { status: number; type: string; body: string };
const text = (status: number, body: string): Reply => ({
  status,
  type: "text/plain; charset=utf-8",
  body,
});

/** `?since=` and `?limit=`: absent, or a non-negative number (else a 400 naming it). */
function numberParam(url: URL, name: string): number | undefined | Error {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === "") return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0
    ? value
    : new Error(`${name}: must be a non-negative number, got "${raw}"`);
}

/** The request's target as a URL, or null when it is none ("//x", "*", "http://[", port 99999). */
function targetOf(req: IncomingMessage): URL | null {
  const target = req.url ?? "/";
  try {
    // RFC 9112 §3.2: origin-form ("/metrics"), or absolute-form ("http://host/metrics").
    if (target.startsWith("/") && !target.startsWith("//")) return new URL(target, "http://admin");
    const url = new URL(target);
    return url.protocol === "http:" || url.protocol === "https:" ? url : null;
  } catch {
    return null;
  }
}

async function route(req: IncomingMessage, options: AdminServerOptions): Promise<Reply> {
  if (req.method !== "GET") return text(405, "only GET is served\n");
  const url = targetOf(req);
  if (!url) return text(400, "the request target must be a path, like /metrics\n");
  switch (url.pathname) {
    case "/metrics":
      return {
        status: 200,
        type: options.registry.contentType,
        body: await options.registry.metrics(),
      };
    case "/traces": {
      const since = numberParam(url, "since");
      const limit = numberParam(url, "limit");
      if (since instanceof Error) return text(400, `${since.message}\n`);
      if (limit instanceof Error) return text(400, `${limit.message}\n`);
      const spans = options.spans.query(since, limit === undefined ? undefined : Math.floor(limit));
      return { status: 200, type: "application/json", body: JSON.stringify({ spans }) };
    }
    case "/healthz":
      return text(200, "ok");
    default:
      return text(404, "not found: try /metrics, /traces or /healthz\n");
  }
}

/**
 * The admin HTTP server of one mesh process: `GET /metrics` (Prometheus text), `GET /traces`
 * (the recent spans) and `GET /healthz`. It never keeps the process alive on its own.
 */
export function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    route(req, options).then(
      (reply) => {
        res.writeHead(reply.status, { "content-type": reply.type }).end(reply.body);
      },
      (err: unknown) => {
        options.log?.error({ err, url: req.url }, "admin request failed");
        res.writeHead(500, { "content-type": "text/plain" }).end("internal error\n");
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      server.unref();
      resolve({
        port: (server.address() as { port: number }).port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
