import { performance } from "node:perf_hooks";
import type { Metadata } from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import { codeName, splitPath } from "./grpc-codes";
import type { Scalar } from "./lean-metrics";
import type { MeshMetrics } from "./mesh-metrics";
import { formatTraceparent, TRACEPARENT } from "./traceparent";
import { endRpcSpan, rpcSpanOptions, SpanKind, startSpan, type Tracing } from "./tracing";

/**
 * Metrics and a client span for every call of one method of one peer, made once per method
 * when the peer is created. The span's `traceparent` goes out in the call's metadata, so the
 * callee's server span becomes its child.
 */
export class ClientMethodProbe {
  private readonly handled: (Scalar | undefined)[] = [];
  private readonly handling;
  private readonly spanOptions;
  private readonly labels;
  private readonly name: string;

  constructor(
    private readonly metrics: MeshMetrics,
    private readonly tracing: Tracing,
    peer: string,
    path: string,
  ) {
    const [grpcService, grpcMethod] = splitPath(path);
    this.labels = { peer, grpc_service: grpcService, grpc_method: grpcMethod, grpc_type: "unary" };
    this.handling = metrics.clientHandling.series(this.labels);
    this.spanOptions = rpcSpanOptions(SpanKind.CLIENT, path, { "peer.service": peer });
    this.name = path.slice(1);
  }

  /** Starts the call's span (child of the incoming call's, if any) and puts it in `metadata`. */
  begin(parent: Span | undefined, metadata: Metadata): Span {
    const span = startSpan(this.tracing, this.name, this.spanOptions, parent);
    metadata.set(TRACEPARENT, formatTraceparent(span.spanContext()));
    return span;
  }

  /** The call ended with `code`, `startedAt` being `performance.now()` when it began. */
  end(span: Span, startedAt: number, code: number): void {
    this.handling.observe((performance.now() - startedAt) / 1_000);
    this.count(code);
    endRpcSpan(span, code);
  }

  /** Counts a call refused before it went out (an open circuit), with no span or timing. */
  count(code: number): void {
    let series = this.handled[code];
    if (!series) {
      series = this.metrics.clientHandled.series({ ...this.labels, grpc_code: codeName(code) });
      this.handled[code] = series;
    }
    series.value++;
  }
}
