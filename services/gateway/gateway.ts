import { type Logger, type Topology } from "../../mesh";
import { targetOf } from "../../mesh/config";
import { createMeshIdentity } from "../../mesh/identity";
import { faultsOverrideFile } from "../../mesh/server";
import { adminRoutes } from "./admin-routes";
import { createDashboard, type Dashboard } from "./dashboard/state";
import { createFaultOverrides } from "./fault-overrides";
import { openApiDocument } from "./openapi";
import {
  closePeers,
  createGatewayPeers,
  PEER_NAMES,
  type GatewayPeers,
  type PeerName,
} from "./peers";
import type { Route } from "./route";
import { createRpcInvoker } from "./rpc";
import { createGatewayServer, type GatewayServer } from "./server";
import { shopRoutes } from "./shop-routes";
import { createGatewayMetrics, type GatewayMetrics } from "./telemetry/metrics";
import { SpanBuffer } from "./telemetry/spans";

/** The gateway's member label: one gateway process. */
export const GATEWAY_MEMBER = "gateway-1";

/** Options for {@link createGateway}. */
export interface GatewayOptions {
  /** Policy, the members the dashboard polls, and where fault overrides go. */
  topology: Topology;
  log: Logger;
  /** Where each service is dialled. Defaults to the topology's targets. */
  targets?: Record<PeerName, string>;
  /** Collect process metrics. Defaults to true. */
  processMetrics?: boolean;
  /**
   * The supervisor's `/metrics` URL, for the dashboard's restarts and crash loops (start:all
   * sets MESH_SUPERVISOR_METRICS_URL). Defaults to none.
   */
  supervisorMetricsUrl?: string;
}

/** The gateway: its HTTP server and what it is made of. */
export interface Gateway extends GatewayServer {
  /** The route table; the OpenAPI document is built from it. */
  readonly routes: readonly Route[];
  readonly peers: GatewayPeers;
  readonly metrics: GatewayMetrics;
  readonly spans: SpanBuffer;
  readonly dashboard: Dashboard;
}

/**
 * Builds the gateway over mesh peers of the topology's services: the REST routes, the
 * dashboard's routes and files, its own telemetry, and GET /openapi.json from the same table.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { topology, log } = options;
  const targets =
    options.targets ??
    (Object.fromEntries(PEER_NAMES.map((name) => [name, targetOf(topology, name)])) as Record<
      PeerName,
      string
    >);
  // The gateway dials as spiffe://<trustDomain>/service/gateway (security.clients), or in
  // plaintext when the mesh runs so.
  const identity = createMeshIdentity(topology.security, { kind: "service", name: "gateway" });
  const dial = (service: string) => identity.dialOptions(service);
  const peers = createGatewayPeers({ targets, policy: topology.policy, log, dial });
  const metrics = createGatewayMetrics({
    member: GATEWAY_MEMBER,
    processMetrics: options.processMetrics,
  });
  for (const name of PEER_NAMES) {
    const breaker = peers[name].breaker;
    if (breaker) metrics.watchBreaker(name, breaker);
  }
  const spans = new SpanBuffer();
  const invoke = createRpcInvoker({
    policy: topology.policy,
    metrics,
    spans,
    member: GATEWAY_MEMBER,
  });
  const dashboard = createDashboard({
    topology,
    dial,
    supervisorMetricsUrl: options.supervisorMetricsUrl,
    local: {
      service: "gateway",
      member: GATEWAY_MEMBER,
      metrics: () => metrics.registry.metrics(),
      spans: (since) => spans.since(since),
    },
  });
  const faults = createFaultOverrides({
    topologyFile: topology.file,
    file: faultsOverrideFile(topology),
  });
  const routes: Route[] = [
    ...shopRoutes({ peers, invoke }),
    ...adminRoutes({ dashboard, faults, metrics, spans }),
  ];
  routes.push({
    method: "GET",
    path: "/openapi.json",
    operationId: "openapi",
    summary: "This document.",
    tag: "meta",
    traced: false,
    response: { description: "OpenAPI 3.1", schema: { type: "object", properties: {} } },
    errors: [],
    handle: async () => openApiDocument(routes),
  });
  const server = createGatewayServer({ routes, spans, log, member: GATEWAY_MEMBER });
  return {
    ...server,
    routes,
    peers,
    metrics,
    spans,
    dashboard,
    async close() {
      await server.close();
      dashboard.close();
      closePeers(peers);
    },
  };
}
