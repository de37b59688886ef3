import { status } from "@grpc/grpc-js";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "../../mesh";
import type { Telemetry } from "../../mesh/telemetry";
import type { Dashboard } from "./dashboard/state";
import type { FaultOverrides } from "./fault-overrides";
import { createHttpApp, type RouteConfig } from "./http-app";
import { badRequest, HttpError } from "./http-errors";
import type { OperatorCheck } from "./operator";
import { fileCache, staticFiles } from "./static-files";

/** What an admin route says in its `config`, besides {@link RouteConfig}. */
interface AdminRouteConfig extends RouteConfig {
  /** Only an operator may call it. Defaults to true. */
  operator?: boolean;
}

/** The demo user start:all seeds (scripts/seed.ts), whom the dashboard's button orders as. */
const DEMO_LOGIN = { email: "ada@example.com", password: "demo-password" };
const TRACE_LIMIT_MAX = 2_000;
const DEMO_TIMEOUT_MS = 5_000;

/** Options for {@link createAdminApp}. */
export interface AdminAppOptions {
  log: Logger;
  telemetry: Telemetry;
  operator: OperatorCheck;
  dashboard: Dashboard;
  faults: FaultOverrides;
  /** The public API's base URL, which the demo-order button goes through as an end user would. */
  publicUrl: () => string;
}

/** One answer of the public API, over HTTP as any client's. */
async function publicCall(
  base: string,
  method: "GET" | "POST",
  path: string,
  init: { body?: object; headers?: Record<string, string> } = {},
): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(init.body ? { "content-type": "application/json" } : {}), ...init.headers },
    body: init.body ? JSON.stringify(init.body) : undefined,
    signal: AbortSignal.timeout(DEMO_TIMEOUT_MS),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status >= 400) {
    const error = (body.error ?? {}) as { message?: string };
    throw new HttpError(
      status.UNAVAILABLE,
      `${method} ${path}: ${response.status} ${error.message ?? ""}`.trim(),
      [],
      response.status,
    );
  }
  return body;
}

/**
 * The gateway's admin listener, apart from the public API: the dashboard page (open), and
 * what only an operator may use (see operator.ts): the dashboard's state, runtime faults,
 * the demo-order button and the gateway's `/traces`. Every route that changes something
 * takes a JSON body or none, and refuses other origins.
 */
export function createAdminApp(options: AdminAppOptions): FastifyInstance {
  const { log, telemetry, operator, dashboard, faults, publicUrl } = options;
  const app = createHttpApp({ log, probe: telemetry.httpServer(), https: operator.https });
  app.addHook("onRequest", async (request: FastifyRequest) => {
    const config = request.routeOptions.config as Partial<AdminRouteConfig>;
    if (config.template !== undefined && config.operator !== false) operator.require(request);
  });
  const open = (template: string): AdminRouteConfig => ({
    template,
    operator: false,
    traced: false,
  });

  const files = staticFiles();
  const read = fileCache();
  for (const [path, file] of files) {
    app.get(path, { config: open(path) }, async (_request, reply) =>
      reply.type(file.contentType).send(await read(file)),
    );
  }
  app.get("/healthz", { config: open("/healthz") }, async () => "ok\n");

  app.get(
    "/api/dashboard/state",
    { config: { template: "/api/dashboard/state", traced: false } },
    () => dashboard.state(),
  );
  app.get("/api/faults", { config: { template: "/api/faults" } }, async () => faults.list());
  app.post(
    "/api/faults",
    { config: { template: "/api/faults" }, schema: { body: { type: "object" } } },
    async (request, reply) => reply.code(201).send({ faults: faults.add(request.body) }),
  );
  app.delete(
    "/api/faults/:index",
    {
      config: { template: "/api/faults/{index}" },
      schema: {
        params: {
          type: "object",
          properties: { index: { type: "string", pattern: "^\\d{1,6}$" } },
        },
      },
    },
    async (request) => ({
      faults: faults.remove(Number((request.params as { index: string }).index)),
    }),
  );
  app.get(
    "/traces",
    {
      config: { template: "/traces", traced: false },
      schema: {
        querystring: {
          type: "object",
          properties: {
            since: { type: "string", pattern: "^\\d{1,16}$" },
            limit: { type: "string", pattern: "^\\d{1,4}$" },
          },
        },
      },
    },
    async (request) => {
      const query = request.query as { since?: string; limit?: string };
      const limit = query.limit === undefined ? undefined : Number(query.limit);
      if (limit !== undefined && (limit < 1 || limit > TRACE_LIMIT_MAX)) {
        throw badRequest("limit", `must be from 1 to ${TRACE_LIMIT_MAX}`);
      }
      return {
        spans: telemetry.tracing.buffer.query(
          query.since === undefined ? 0 : Number(query.since),
          limit,
        ),
      };
    },
  );
  // Logs the demo user in, picks a product in stock and orders one, through the public API.
  app.post(
    "/api/demo-order",
    { config: { template: "/api/demo-order" }, schema: { body: { type: "object" } } },
    async () => {
      const login = await publicCall(publicUrl(), "POST", "/api/login", { body: DEMO_LOGIN });
      const { products = [] } = (await publicCall(
        publicUrl(),
        "GET",
        "/api/products?pageSize=50",
      )) as {
        products?: { sku: string; available?: number }[];
      };
      const product = products.find((p) => (p.available ?? 0) > 0);
      if (!product)
        throw new HttpError(
          status.FAILED_PRECONDITION,
          "no product in stock (seed the demo data)",
          [],
          409,
        );
      const placed = (await publicCall(publicUrl(), "POST", "/api/orders", {
        headers: {
          authorization: `Bearer ${login.accessToken as string}`,
          "idempotency-key": `demo-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
        },
        body: { userId: login.userId, items: [{ sku: product.sku, quantity: 1 }] },
      })) as { order: { orderId: string; status: string } };
      return { orderId: placed.order.orderId, status: placed.order.status };
    },
  );
  return app;
}
