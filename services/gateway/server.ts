import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import type { Logger } from "../../mesh";
import { badRequest, HttpError, routeNotFound, toCamel, toHttpError } from "./http-errors";
import { readJsonBody, requestTimeoutMs } from "./http-request";
import { validate, type Schema } from "./json-schema";
import { compileRoute, matchRoute, type Route, type RouteInput } from "./route";
import type { RequestScope } from "./rpc";
import { fileCache, staticFiles } from "./static-files";
import { newSpanId, traceContextOf, traceparentOf, type SpanBuffer } from "./telemetry/spans";

/** Options for {@link createGatewayServer}. */
export interface GatewayServerOptions {
  routes: readonly Route[];
  spans: SpanBuffer;
  log: Logger;
  /** The member label on the request spans. Defaults to "gateway-1". */
  member?: string;
}

/** The gateway's HTTP server. */
export interface GatewayServer {
  readonly server: Server;
  /** Listens on `port` (0 for any) and resolves to the port. */
  listen(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

/** Query values are strings; an integer parameter must be written as one. */
function queryValue(name: string, schema: Schema, raw: string): unknown {
  if ("type" in schema && schema.type === "integer") {
    if (!/^-?\d+$/.test(raw)) throw badRequest(name, `expected an integer, got "${raw}"`);
    return validate(schema, Number(raw), name);
  }
  return validate(schema, raw, name);
}

/** Reads and checks what `route` accepts: query, headers and body. */
async function routeInput(
  route: Route,
  req: IncomingMessage,
  url: URL,
  params: Record<string, string>,
  scope: RequestScope,
): Promise<RouteInput> {
  for (const [name, schema] of Object.entries(route.params ?? {}))
    validate(schema, params[name], name);
  const query: Record<string, unknown> = {};
  for (const [rawName, raw] of url.searchParams) {
    const name = toCamel(rawName);
    const schema = route.query?.[name];
    if (schema) query[name] = queryValue(name, schema, raw);
  }
  for (const name of route.requiredQuery ?? []) {
    if (query[name] === undefined) throw badRequest(name, "query parameter is required");
  }
  for (const [name, spec] of Object.entries(route.headers ?? {})) {
    const value = req.headers[name];
    if (value === undefined) {
      if (spec.required) throw badRequest(name, "header is required");
    } else validate(spec.schema, value, name);
  }
  const body = route.body ? validate(route.body, await readJsonBody(req), "") : undefined;
  return { params, query, headers: req.headers, body, scope };
}

function send(
  res: ServerResponse,
  httpStatus: number,
  contentType: string,
  body: string | Buffer,
): void {
  res.writeHead(httpStatus, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Routes each request through the table (or to a dashboard file), answering JSON, with a
 * server span per request whose trace the caller's `traceparent` names (or a new one); the
 * response's `traceresponse` header names it (W3C Trace Context level 2).
 */
export function createGatewayServer(options: GatewayServerOptions): GatewayServer {
  const { spans, log, member = "gateway-1" } = options;
  const compiled = options.routes.map(compileRoute);
  const files = staticFiles();
  const readCached = fileCache();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // Fractional epoch ms, so spans started within one millisecond still sort in order.
    const startMs = performance.timeOrigin + performance.now();
    const start = process.hrtime.bigint();
    const context = traceContextOf(req.headers.traceparent as string | undefined);
    const scope: RequestScope = {
      traceId: context.traceId,
      spanId: newSpanId(),
      sampled: context.sampled,
    };
    res.setHeader("traceresponse", traceparentOf(scope.traceId, scope.spanId, scope.sampled));
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://gateway");
    let spanName = `${method} ${url.pathname}`;
    let httpStatus = 200;
    let grpcStatus = "OK";
    // Files and untraced routes record no span.
    let traced = false;
    try {
      const file = method === "GET" ? files.get(url.pathname) : undefined;
      if (file) {
        send(res, 200, file.contentType, await readCached(file));
        return;
      }
      const match = matchRoute(compiled, method, url.pathname);
      if (!match) {
        traced = true;
        throw routeNotFound(method, url.pathname);
      }
      const { route, params } = match;
      spanName = `${method} ${route.path}`;
      traced = route.traced ?? true;
      const timeout = requestTimeoutMs(req);
      if (timeout !== undefined) scope.deadline = startMs + timeout;
      const authorization = req.headers.authorization;
      if (authorization) scope.authorization = authorization;
      const result = await route.handle(await routeInput(route, req, url, params, scope));
      httpStatus = route.response.status ?? 200;
      if (typeof result === "string")
        send(res, httpStatus, route.response.contentType ?? "text/plain", result);
      else send(res, httpStatus, "application/json", JSON.stringify(result));
    } catch (err) {
      const error = toHttpError(err);
      if (error.grpcCode === status.INTERNAL && !(err instanceof HttpError)) {
        log.error({ err, traceId: scope.traceId, path: url.pathname }, "gateway route failed");
      }
      httpStatus = error.httpStatus;
      grpcStatus = status[error.grpcCode] ?? "UNKNOWN";
      if (!res.headersSent) send(res, httpStatus, "application/json", JSON.stringify(error));
      else res.destroy();
    } finally {
      if (traced)
        spans.add({
          traceId: scope.traceId,
          spanId: scope.spanId,
          ...(context.parentSpanId && { parentSpanId: context.parentSpanId }),
          name: spanName,
          kind: "server",
          service: "gateway",
          member,
          startMs,
          durationMs: Number(process.hrtime.bigint() - start) / 1e6,
          status: grpcStatus,
          attributes: {
            "http.method": method,
            "http.target": url.pathname,
            "http.status_code": httpStatus,
          },
        });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "gateway request failed");
      res.destroy();
    });
  });
  return {
    server,
    listen: (port, host = "127.0.0.1") =>
      new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      }),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
