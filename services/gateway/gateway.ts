import type { DescField, DescService } from "@bufbuild/protobuf";
import type { FastifyInstance } from "fastify";
import { type Logger, type Topology } from "../../mesh";
import { loadDescriptors, targetOf, type Descriptors } from "../../mesh/config";
import { createMeshIdentity } from "../../mesh/identity";
import { faultsOverrideFile } from "../../mesh/server";
import { createTelemetry, type Telemetry } from "../../mesh/telemetry";
import { createAdminApp } from "./admin";
import { createDashboard, type Dashboard } from "./dashboard/state";
import { createFaultOverrides } from "./fault-overrides";
import { createHttpApp } from "./http-app";
import { createOperatorCheck, type OperatorCheck } from "./operator";
import { lazyComments, NO_COMMENTS } from "./rest/comments";
import { restMethods, type RestMethod } from "./rest/contract";
import { SchemaBuilder } from "./rest/json-schema";
import { openApiDocument } from "./rest/openapi";
import { createDynamicPeer, type DynamicPeer } from "./rest/peers";
import { registerRestRoutes } from "./rest/routes";

/** The gateway's member label: one gateway process. */
export const GATEWAY_MEMBER = "gateway-1";

/** Options for {@link createGateway}. */
export interface GatewayOptions {
  /** Policy, the members the dashboard polls, security, and where fault overrides go. */
  topology: Topology;
  log: Logger;
  /** The contracts whose `google.api.http` rules make the REST API. Defaults to the project's. */
  descriptors?: Descriptors;
  /** Where each mesh service is dialled. Defaults to the topology's targets. */
  targets?: Record<string, string>;
  /** Defaults to the gateway's own (service "gateway", member "gateway-1"). */
  telemetry?: Telemetry;
  /** The operator's secret in plaintext mode. Defaults to one made now. */
  adminSecret?: string;
  /**
   * The supervisor's `/metrics` URL, for the dashboard's restarts and crash loops (start:all
   * sets MESH_SUPERVISOR_METRICS_URL). Defaults to none.
   */
  supervisorMetricsUrl?: string;
}

/** The gateway: a public listener (the REST API) and an admin listener (operators). */
export interface Gateway {
  /** The REST API, `/openapi.json`, `/metrics` and `/healthz`. */
  readonly api: FastifyInstance;
  /** The dashboard and the operators' API (faults, traces). */
  readonly admin: FastifyInstance;
  /** The REST methods served, from the contracts. */
  readonly methods: readonly RestMethod[];
  readonly telemetry: Telemetry;
  readonly dashboard: Dashboard;
  readonly operator: OperatorCheck;
  /** The OpenAPI document served at `/openapi.json`. */
  readonly openApi: Record<string, unknown>;
  /** Listens on `host:port` (0 for any); resolves to the port. */
  listen(port: number, host?: string): Promise<number>;
  listenAdmin(port: number, host?: string): Promise<number>;
  close(): Promise<void>;
}

const portOf = (app: FastifyInstance): number => {
  const address = app.server.address();
  return typeof address === "object" && address ? address.port : 0;
};

/**
 * Builds the gateway from the contracts: a REST route per `google.api.http` rule, called
 * through a mesh peer of its service (deadlines, retries, balancing, breakers, mTLS as the
 * client "gateway"), with request validation, proto3 JSON and the OpenAPI document from the
 * same descriptors, and the mesh's telemetry (a root span per request, exported like every
 * member's). The dashboard and the fault controls sit on a separate admin app.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const { topology, log } = options;
  const descriptors = options.descriptors ?? loadDescriptors();
  const telemetry =
    options.telemetry ??
    createTelemetry({
      service: "gateway",
      member: GATEWAY_MEMBER,
      log,
      policy: topology.policy,
      descriptors,
      // The gateway has no store: nothing needs the call's span in an AsyncLocalStorage.
      storeSpans: false,
    });
  const methods = restMethods(descriptors);
  const rules = (field: DescField) => descriptors.fieldRules(field);

  // The gateway dials as spiffe://<trustDomain>/service/gateway (security.clients), or in
  // plaintext when the mesh runs so.
  const identity = createMeshIdentity(topology.security, { kind: "service", name: "gateway" });
  const peers = new Map<DescService, DynamicPeer>();
  for (const rest of methods) {
    if (peers.has(rest.service)) continue;
    const target = options.targets?.[rest.peer] ?? targetOf(topology, rest.peer);
    peers.set(
      rest.service,
      createDynamicPeer(rest.service, {
        peer: rest.peer,
        target,
        policy: topology.policy,
        descriptors,
        telemetry,
        log,
        dial: identity.dialOptions(rest.peer),
      }),
    );
  }

  const api = createHttpApp({ log, probe: telemetry.httpServer() });
  // The routes' schemas need no descriptions; the OpenAPI document, which has the contracts'
  // comments as descriptions, is made when it is first asked for. Decoding the comments at
  // start took 5 MB of the gateway's resident memory, most of it pages of V8's optimizing
  // compiler, which the decoder's loop set off (docs/BENCHMARKS.md, section f).
  registerRestRoutes(api, {
    methods,
    builder: new SchemaBuilder(NO_COMMENTS, rules),
    peerOf: (rest) => peers.get(rest.service)!,
    policy: topology.policy,
    descriptors,
  });
  let openApi: Record<string, unknown> | undefined;
  const openApiOnce = (): Record<string, unknown> => {
    if (openApi) return openApi;
    const comments = lazyComments(descriptors);
    return (openApi = openApiDocument({
      methods,
      builder: new SchemaBuilder(comments, rules),
      comments,
    }));
  };
  const meta = (template: string) => ({ config: { template, traced: false } });
  api.get("/openapi.json", meta("/openapi.json"), async () => openApiOnce());
  api.get("/healthz", meta("/healthz"), async () => "ok\n");
  api.get("/metrics", meta("/metrics"), async (_request, reply) =>
    reply
      .type(telemetry.metrics.registry.contentType)
      .send(await telemetry.metrics.registry.metrics()),
  );

  const dashboard = createDashboard({
    topology,
    dial: (service) => identity.dialOptions(service),
    supervisorMetricsUrl: options.supervisorMetricsUrl,
    local: {
      service: "gateway",
      member: GATEWAY_MEMBER,
      metrics: () => telemetry.metrics.registry.metrics(),
      spans: (since) => telemetry.tracing.buffer.query(since),
    },
  });
  const faults = createFaultOverrides({
    topologyFile: topology.file,
    file: faultsOverrideFile(topology),
  });
  const operator = createOperatorCheck(topology, options.adminSecret);
  const publicUrl = () => {
    const address = api.server.address();
    if (typeof address !== "object" || !address) throw new Error("the public API is not listening");
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  };
  const admin = createAdminApp({ log, telemetry, operator, dashboard, faults, publicUrl });

  return {
    api,
    admin,
    methods,
    telemetry,
    dashboard,
    operator,
    get openApi() {
      return openApiOnce();
    },
    async listen(port, host = "127.0.0.1") {
      await api.listen({ port, host });
      return portOf(api);
    },
    async listenAdmin(port, host = "127.0.0.1") {
      await admin.listen({ port, host });
      return portOf(admin);
    },
    async close() {
      await Promise.all([api.close(), admin.close()]);
      dashboard.close();
      for (const peer of peers.values()) peer.close();
      await telemetry.flush();
    },
  };
}
