import { performance } from "node:perf_hooks";
import type { Metadata } from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "./logger";
import { codeName, splitPath } from "./grpc-codes";
import type { Scalar } from "./lean-metrics";
import type { MeshMetrics } from "./mesh-metrics";
import { TRACEPARENT, parseTraceparent } from "./traceparent";
import {
  activeSpan,
  endRpcSpan,
  rpcSpanOptions,
  SpanKind,
  startSpan,
  type Tracing,
} from "./tracing";

/** What a probe keeps on an incoming call between its start and its end (the call context). */
export interface ProbedCall {
  readonly metadata: Metadata;
  span: Span | undefined;
  startedAt: number;
}

/** Set by gRFC A6 clients on every attempt after the first, retried or hedged. */
const PREVIOUS_ATTEMPTS = "grpc-previous-rpc-attempts";
const DEBUG = 20;

/** What a {@link ServerMethodProbe} needs from its process's telemetry. */
export interface ServerProbeDeps {
  metrics: MeshMetrics;
  tracing: Tracing;
  log: Logger;
  /** The mesh service name, the `peer` label of the retry and hedge counters. */
  service: string;
  /** Whether handlers run inside {@link activeSpan}, so that store queries get parented. */
  storeSpans: boolean;
}

/**
 * Metrics, a span and a debug log line for every call of one server method. Everything that
 * depends only on the method (label sets, span options, series) is made here once; a call
 * costs two clock reads, a few field updates and its span.
 */
export class ServerMethodProbe {
  private readonly handled: (Scalar | undefined)[] = [];
  private readonly handling;
  private readonly inFlight;
  /** Retry or hedge counter, by the method's policy. */
  private readonly attempts;
  private readonly spanOptions;
  private readonly labels;

  constructor(
    private readonly deps: ServerProbeDeps,
    private readonly path: string,
    type: "unary" | "server_stream",
    hedged: boolean,
  ) {
    const [grpcService, grpcMethod] = splitPath(path);
    this.labels = { grpc_service: grpcService, grpc_method: grpcMethod, grpc_type: type };
    const { metrics } = deps;
    this.handling = metrics.serverHandling.series(this.labels);
    this.inFlight = metrics.serverInFlight.series({
      grpc_service: grpcService,
      grpc_method: grpcMethod,
    });
    this.attempts = (hedged ? metrics.hedges : metrics.retries).series({
      peer: deps.service,
      grpc_method: grpcMethod,
    });
    this.spanOptions = rpcSpanOptions(SpanKind.SERVER, path);
  }

  /** A call reached its handler: starts its clock and its span (child of its `traceparent`). */
  begin(call: ProbedCall): void {
    call.startedAt = performance.now();
    this.inFlight.value++;
    const metadata = call.metadata;
    if (metadata.get(PREVIOUS_ATTEMPTS).length > 0) this.attempts.value++;
    const parent = parseTraceparent(metadata.get(TRACEPARENT)[0]);
    call.span = startSpan(this.deps.tracing, this.path.slice(1), this.spanOptions, parent);
  }

  /**
   * Runs the handler inside the call's span when store spans are on and the span is recorded
   * (store spans are made only under a recorded one).
   */
  run<Req, Res, C extends ProbedCall>(
    handler: (request: Req, context: C) => Promise<Res>,
    request: Req,
    context: C,
  ): Promise<Res> {
    if (!this.deps.storeSpans || !context.span?.isRecording()) return handler(request, context);
    return activeSpan.run(context.span, handler, request, context);
  }

  /** The call was answered with `code`. */
  end(call: ProbedCall, code: number): void {
    const seconds = (performance.now() - call.startedAt) / 1_000;
    this.inFlight.value--;
    this.handling.observe(seconds);
    this.count(code);
    const span = call.span;
    if (span) endRpcSpan(span, code);
    const log = this.deps.log;
    if (log.levelVal <= DEBUG) {
      log.debug(
        {
          method: this.path,
          status: codeName(code),
          durationMs: Math.round(seconds * 1e6) / 1e3,
          trace_id: span?.spanContext().traceId,
          span_id: span?.spanContext().spanId,
        },
        "handled",
      );
    }
  }

  /** Counts a call answered before any handler ran (shed, undecodable). */
  count(code: number): void {
    let series = this.handled[code];
    if (!series) {
      series = this.deps.metrics.serverHandled.series({
        ...this.labels,
        grpc_code: codeName(code),
      });
      this.handled[code] = series;
    }
    series.value++;
  }
}
