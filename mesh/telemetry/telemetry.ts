import type { Knex } from "knex";
import type { BreakerState, BreakerView } from "../client/breaker";
import type { Descriptors } from "../config/descriptors";
import type { Logger } from "./logger";
import { resolveMethodPolicy } from "../config/policy";
import type { PolicyConfig } from "../config/policy-schema";
import { startAdminServer, type AdminServer } from "./admin-server";
import { ClientMethodProbe } from "./client-probe";
import { createMeshMetrics, type MeshMetrics } from "./mesh-metrics";
import { HttpServerProbe } from "./http-probe";
import { LATENCY_BUCKETS } from "./mesh-metrics";
import { HistogramFamily } from "./lean-metrics";
import { ServerMethodProbe } from "./server-probe";
import { probeStore, type QueryObserver } from "./store-probe";
import { createTracing, type Tracing } from "./tracing";

/** Options for {@link createTelemetry}. */
export interface TelemetryOptions {
  /** The mesh service, label `service` ("payments"). */
  service: string;
  /** This process, label `member` ("payments-2"); see {@link memberName}. */
  member: string;
  /** Per-call lines go here at debug level. */
  log: Logger;
  /** With descriptors: tells hedged methods from retried ones. Defaults to "all retried". */
  policy?: PolicyConfig;
  descriptors?: Descriptors;
  /** Spans kept for `/traces`. Defaults to 2000. */
  spanCapacity?: number;
  /** See {@link TracingOptions.otlpEndpoint}. */
  otlpEndpoint?: string;
  /**
   * A span per store query, under the call's span. Defaults to true, unless
   * `MESH_TRACE_STORE=0`: it runs handlers in an AsyncLocalStorage (see tracing.ts).
   */
  storeSpans?: boolean;
  /** Where the tracing variables are read (tracing.ts). Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** One process's metrics, traces and admin server; the mesh's parts take it as an option. */
export interface Telemetry {
  readonly service: string;
  readonly member: string;
  readonly metrics: MeshMetrics;
  readonly tracing: Tracing;
  /** Instruments one server method; called once per method at registration. */
  serverMethod(path: string, type: "unary" | "server_stream"): ServerMethodProbe;
  /** Instruments one method of a peer (`peer` is its mesh service name). */
  clientMethod(peer: string, path: string): ClientMethodProbe;
  /**
   * The HTTP server's probe (the REST gateway): a root span per request and
   * `http_server_request_duration_seconds`, made on first use.
   */
  httpServer(): HttpServerProbe;
  /** Keeps `mesh_breaker_state{peer}` up to date. */
  watchBreaker(peer: string, breaker: BreakerView): void;
  /**
   * Makes `mesh_outlier_ejections_total{peer}` (scraped as 0 until the first ejection) and
   * returns what counts one; the peer's balancer calls it (client/balancer.ts).
   */
  watchEjections(peer: string): () => void;
  /**
   * Times, and traces, every query of a store's knex; the probe it returns does the same for
   * the statements the store runs without knex (mesh/store/statement.ts).
   */
  watchStore(db: Knex): QueryObserver;
  /** Serves `/metrics`, `/traces` and `/healthz` on `host:port`. */
  serveAdmin(host: string, port: number): Promise<AdminServer>;
  /** Sends batched spans to the OTLP collector, if there is one. */
  flush(): Promise<void>;
}

const BREAKER_VALUES: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };

/** `payments`, instance 1 (0-based) → "payments-2": members are numbered from 1. */
export const memberName = (service: string, instance: number): string =>
  `${service}-${instance + 1}`;

/** Creates the telemetry of one process. */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { service, member, log, policy, descriptors } = options;
  const metrics = createMeshMetrics({ service, member });
  const tracing = createTracing({
    service,
    member,
    capacity: options.spanCapacity,
    otlpEndpoint: options.otlpEndpoint,
    env: options.env,
  });
  const storeSpans = options.storeSpans ?? process.env.MESH_TRACE_STORE !== "0";
  const deps = { metrics, tracing, log, service, storeSpans };
  let http: HttpServerProbe | undefined;

  return {
    service,
    member,
    metrics,
    tracing,
    serverMethod(path, type) {
      const hedged =
        policy && descriptors
          ? resolveMethodPolicy(policy, path, descriptors).hedging !== undefined
          : false;
      return new ServerMethodProbe(deps, path, type, hedged);
    },
    clientMethod: (peer, path) => new ClientMethodProbe(metrics, tracing, peer, path),
    httpServer: () =>
      (http ??= new HttpServerProbe(
        tracing,
        new HistogramFamily(
          "http_server_request_duration_seconds",
          "Time from an HTTP request's arrival to its answer, by method, route and status code.",
          metrics.registry,
          LATENCY_BUCKETS,
        ),
      )),
    watchBreaker(peer, breaker) {
      const series = metrics.breakerState.series({ peer });
      series.value = BREAKER_VALUES[breaker.state()];
      breaker.onStateChange((state) => (series.value = BREAKER_VALUES[state]));
    },
    watchEjections(peer) {
      const series = metrics.ejections.series({ peer });
      return () => void series.value++;
    },
    watchStore: (db) => probeStore(db, metrics, tracing),
    serveAdmin: (host, port) =>
      startAdminServer({ host, port, registry: metrics.registry, spans: tracing.buffer, log }),
    flush: () => tracing.flush(),
  };
}
