import { status } from "@grpc/grpc-js";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { BreakerView } from "../../../mesh/client";

/** Histogram buckets in seconds, the same on every member (TELEMETRY contract). */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

const BREAKER_VALUE = { closed: 0, "half-open": 1, open: 2 } as const;

/** The gateway's client-side metrics, named as every member names its own. */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Records one finished call to `peer` (a mesh service name) of `path` (`/pkg.Svc/Method`). */
  recordCall(peer: string, path: string, code: status, seconds: number): void;
  /** Reports `breaker`'s state as `mesh_breaker_state{peer}` at each scrape. */
  watchBreaker(peer: string, breaker: BreakerView): void;
}

/** Options for {@link createGatewayMetrics}. */
export interface GatewayMetricsOptions {
  /** The member label. Defaults to "gateway-1". */
  member?: string;
  /** Also collect prom-client's process metrics. Defaults to true; tests turn it off. */
  processMetrics?: boolean;
}

/**
 * A registry with `grpc_client_handled_total`, `grpc_client_handling_seconds` and
 * `mesh_breaker_state`, labelled service="gateway" and the member, as the contract names them.
 */
export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: "gateway", member: options.member ?? "gateway-1" });
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const handled = new Counter({
    name: "grpc_client_handled_total",
    help: "Calls completed by the client, by peer, method and code.",
    labelNames: ["peer", "grpc_service", "grpc_method", "grpc_type", "grpc_code"],
    registers: [registry],
  });
  const seconds = new Histogram({
    name: "grpc_client_handling_seconds",
    help: "Time from starting a call to its status, by peer and method.",
    labelNames: ["peer", "grpc_service", "grpc_method", "grpc_type"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const breakers = new Map<string, BreakerView>();
  new Gauge({
    name: "mesh_breaker_state",
    help: "Circuit breaker state per peer: 0 closed, 1 half-open, 2 open.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      for (const [peer, breaker] of breakers) this.set({ peer }, BREAKER_VALUE[breaker.state()]);
    },
  });
  return {
    registry,
    recordCall(peer, path, code, elapsed) {
      const [grpcService, grpcMethod] = path.slice(1).split("/");
      const labels = {
        peer,
        grpc_service: grpcService,
        grpc_method: grpcMethod,
        grpc_type: "unary",
      };
      handled.inc({ ...labels, grpc_code: status[code] ?? "UNKNOWN" });
      seconds.observe(labels, elapsed);
    },
    watchBreaker(peer, breaker) {
      breakers.set(peer, breaker);
    },
  };
}
