import type { Dashboard } from "./dashboard/state";
import type { FaultOverrides } from "./fault-overrides";
import type { Route } from "./route";
import { obj, ref } from "./schemas";
import type { GatewayMetrics } from "./telemetry/metrics";
import type { SpanBuffer } from "./telemetry/spans";

/** What the dashboard's and telemetry routes read. */
export interface AdminRoutesOptions {
  dashboard: Dashboard;
  faults: FaultOverrides;
  metrics: GatewayMetrics;
  spans: SpanBuffer;
}

const anyObject = { type: "object", properties: {} } as const;
const faultList = obj({ faults: { type: "array", items: ref("Fault") } });
const TRACE_LIMIT_MAX = 2_000;

/** Routes of the dashboard (state, faults) and of the gateway's own telemetry. */
export function adminRoutes({ dashboard, faults, metrics, spans }: AdminRoutesOptions): Route[] {
  return [
    {
      method: "GET",
      path: "/api/dashboard/state",
      operationId: "dashboardState",
      traced: false,
      summary:
        "Members with their gRPC health, per-edge rate, error rate and p50/p99 since the last " +
        "poll, breakers and ejections, and recent traces, from every member's admin endpoints.",
      tag: "dashboard",
      response: { description: "The mesh now", schema: anyObject },
      errors: [],
      handle: () => dashboard.state(),
    },
    {
      method: "GET",
      path: "/api/faults",
      operationId: "listFaults",
      summary: "Faults in force: the runtime overrides (first) and the topology file's.",
      tag: "faults",
      response: {
        description: "Both lists",
        schema: obj({
          overrides: { type: "array", items: ref("Fault") },
          topology: { type: "array", items: ref("Fault") },
        }),
      },
      errors: [],
      handle: async () => faults.list(),
    },
    {
      method: "POST",
      path: "/api/faults",
      operationId: "addFault",
      summary: "Adds a runtime fault; services pick it up within a second, no restart.",
      tag: "faults",
      // Checked in full by the topology schema (mesh/topology.ts); this only asks for an object.
      body: { type: "object", properties: {}, description: "A fault, as in mesh.yaml's faults" },
      response: { status: 201, description: "The overrides now", schema: faultList },
      errors: [],
      handle: async ({ body }) => ({ faults: faults.add(body) }),
    },
    {
      method: "DELETE",
      path: "/api/faults/{index}",
      operationId: "removeFault",
      summary: "Removes the runtime fault at this index of the overrides.",
      tag: "faults",
      params: { index: { type: "string", pattern: "^\\d+$" } },
      response: { description: "The overrides now", schema: faultList },
      errors: [404],
      handle: async ({ params }) => ({ faults: faults.remove(Number(params.index)) }),
    },
    {
      method: "GET",
      path: "/metrics",
      operationId: "metrics",
      traced: false,
      summary: "The gateway's own Prometheus metrics (its calls into the mesh).",
      tag: "telemetry",
      response: {
        description: "Prometheus text format",
        schema: { type: "string" },
        contentType: metrics.registry.contentType,
      },
      errors: [],
      handle: () => metrics.registry.metrics(),
    },
    {
      method: "GET",
      path: "/traces",
      operationId: "traces",
      traced: false,
      summary: "The gateway's recent spans, newest last.",
      tag: "telemetry",
      query: {
        since: {
          type: "integer",
          minimum: 0,
          description: "Epoch ms; spans ending before it are left out",
        },
        limit: { type: "integer", minimum: 1, maximum: TRACE_LIMIT_MAX },
      },
      response: {
        description: "Spans",
        schema: obj({ spans: { type: "array", items: anyObject } }),
      },
      errors: [],
      handle: async ({ query }) => ({
        spans: spans.since(query.since as number | undefined, query.limit as number | undefined),
      }),
    },
    {
      method: "GET",
      path: "/healthz",
      operationId: "healthz",
      traced: false,
      summary: "200 while the gateway runs.",
      tag: "telemetry",
      response: { description: "ok", schema: { type: "string" }, contentType: "text/plain" },
      errors: [],
      handle: async () => "ok\n",
    },
  ];
}
