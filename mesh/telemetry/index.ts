/**
 * Telemetry of a mesh process: Prometheus metrics, OpenTelemetry traces with W3C
 * `traceparent` propagation, and the admin HTTP server that serves both
 * (TELEMETRY-CONTRACT.md). The server, client and store take a {@link Telemetry} as an option.
 */
export { ADMIN_PORT_OFFSET, adminPortOf, type AdminServer } from "./admin-server";
export { ClientMethodProbe } from "./client-probe";
export { codeName, meshServiceOf } from "./grpc-codes";
export { createLogger, silentLogger, type Logger } from "./logger";
export {
  HttpServerProbe,
  type HttpOutcome,
  type HttpRequestInfo,
  type HttpServerCall,
} from "./http-probe";
export { LATENCY_BUCKETS, type MeshMetrics } from "./mesh-metrics";
export { ServerMethodProbe, type ProbedCall } from "./server-probe";
export { DEFAULT_SPAN_CAPACITY, type SpanRecord } from "./span-buffer";
export type { QueryObserver } from "./store-probe";
export { createTelemetry, memberName, type Telemetry, type TelemetryOptions } from "./telemetry";
export { formatTraceparent, parseTraceparent, TRACEPARENT } from "./traceparent";
