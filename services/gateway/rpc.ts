import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { isGrpcError, type PeerCallOptions, type PolicyConfig } from "../../mesh";
import { loadDescriptors, resolveMethodPolicy, type Descriptors } from "../../mesh/config";
import { TRACEPARENT } from "../../mesh/telemetry";
import type { GatewayMetrics } from "./telemetry/metrics";
import { newSpanId, traceparentOf, type SpanBuffer } from "./telemetry/spans";

/** What one HTTP request carries into every RPC it makes. */
export interface RequestScope {
  traceId: string;
  /** The HTTP request's server span: the parent of each RPC's client span. */
  spanId: string;
  sampled: boolean;
  /** Epoch ms by which the HTTP caller wants an answer, if it said. */
  deadline?: number;
  /** The caller's `authorization` header, passed on as gRPC metadata. */
  authorization?: string;
}

/** Calls one RPC for one HTTP request; see {@link createRpcInvoker}. */
export type RpcInvoker = <T>(
  scope: RequestScope,
  peer: string,
  path: string,
  call: (options: PeerCallOptions) => Promise<T>,
) => Promise<T>;

/** Options for {@link createRpcInvoker}. */
export interface RpcInvokerOptions {
  policy: PolicyConfig;
  metrics: GatewayMetrics;
  spans: SpanBuffer;
  /** The member label on spans. Defaults to "gateway-1". */
  member?: string;
  /** Defaults to the project's descriptor set. */
  descriptors?: Descriptors;
}

const codeOf = (err: unknown): status => (isGrpcError(err) ? err.code : status.UNKNOWN);

/**
 * Makes each RPC of an HTTP request with the request's deadline (never beyond the method's
 * policy timeout), its `authorization`, and a `traceparent` naming a new client span; records
 * the call in the gateway's metrics and spans, as every member records its own calls.
 */
export function createRpcInvoker(options: RpcInvokerOptions): RpcInvoker {
  const { policy, metrics, spans, member = "gateway-1" } = options;
  const descriptors = options.descriptors ?? loadDescriptors();
  const policyTimeouts = new Map<string, number>();
  const policyTimeout = (path: string): number => {
    let ms = policyTimeouts.get(path);
    if (ms === undefined) {
      ms = resolveMethodPolicy(policy, path, descriptors).timeoutMs;
      policyTimeouts.set(path, ms);
    }
    return ms;
  };

  return async (scope, peer, path, call) => {
    const spanId = newSpanId();
    const metadata = new Metadata();
    metadata.set(TRACEPARENT, traceparentOf(scope.traceId, spanId, scope.sampled));
    if (scope.authorization) metadata.set("authorization", scope.authorization);
    const startMs = performance.timeOrigin + performance.now();
    const start = process.hrtime.bigint();
    let timeoutMs = policyTimeout(path);
    if (scope.deadline !== undefined) timeoutMs = Math.min(timeoutMs, scope.deadline - startMs);
    let code: status = status.OK;
    try {
      if (timeoutMs <= 0) {
        const details = `no time left to call ${path}`;
        const err: ServiceError = Object.assign(new Error(details), {
          code: status.DEADLINE_EXCEEDED,
          details,
          metadata,
        });
        throw err;
      }
      return await call({ metadata, timeoutMs });
    } catch (err) {
      code = codeOf(err);
      throw err;
    } finally {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      metrics.recordCall(peer, path, code, seconds);
      spans.add({
        traceId: scope.traceId,
        spanId,
        parentSpanId: scope.spanId,
        name: path.slice(1),
        kind: "client",
        service: "gateway",
        member,
        startMs,
        durationMs: seconds * 1_000,
        status: status[code] ?? "UNKNOWN",
        attributes: { "rpc.system": "grpc", "net.peer.name": peer, "rpc.timeout_ms": timeoutMs },
      });
    }
  };
}
