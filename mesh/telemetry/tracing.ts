import { AsyncLocalStorage } from "node:async_hooks";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { SpanBuffer, STATUS_ATTRIBUTE } from "./span-buffer";

/** Options for {@link createTracing}. */
export interface TracingOptions {
  service: string;
  member: string;
  /** Spans kept for `/traces`. Defaults to 2000. */
  capacity?: number;
  /**
   * OTLP/HTTP collector base URL (`http://localhost:4318`); spans then also go there in
   * batches. Defaults to `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`), else none.
   */
  otlpEndpoint?: string;
  /**
   * Share of new traces recorded, 0 to 1; a call follows its caller's decision (the sampled
   * flag of its `traceparent`). Defaults to `MESH_TRACE_SAMPLE`, else 1: every call.
   */
  sampleRatio?: number;
}

/** A process's tracer, its in-memory buffer, and the export pipeline. */
export interface Tracing {
  readonly tracer: Tracer;
  readonly buffer: SpanBuffer;
  /** Whether spans also go to an OTLP collector. */
  readonly exporting: boolean;
  /** Sends what is batched to the collector. */
  flush(): Promise<void>;
}

/**
 * The span of the call whose handler is running, for spans made where no call context is at
 * hand (store queries). Entered only when store spans are on: AsyncLocalStorage makes every
 * promise in the process dearer (about 0.15 µs per await in Node 20).
 */
export const activeSpan = new AsyncLocalStorage<Span>();

/** Starts the OpenTelemetry SDK for one process (no global registration: tests run several). */
export function createTracing(options: TracingOptions): Tracing {
  const buffer = new SpanBuffer(options, options.capacity);
  const processors: SpanProcessor[] = [buffer];
  const endpoint =
    options.otlpEndpoint ??
    process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint) {
    // Loaded only when used: the exporter pulls in protobuf and HTTP code a plain run never needs.
    type Exporter = typeof import("@opentelemetry/exporter-trace-otlp-http");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http") as Exporter;
    const url = options.otlpEndpoint
      ? `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces`
      : undefined;
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter(url ? { url } : {})));
  }
  const ratio = options.sampleRatio ?? Number(process.env.MESH_TRACE_SAMPLE ?? 1);
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new Error(`MESH_TRACE_SAMPLE: must be a number from 0 to 1, got "${ratio}"`);
  }
  const provider = new BasicTracerProvider({
    // An unsampled call gets a non-recording span (no buffer, no export) whose context still
    // travels, so the calls it makes are left out too.
    sampler: new ParentBasedSampler({
      // The ratio sampler hashes the trace id even at 1; "always" skips that.
      root: ratio === 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio),
    }),
    resource: resourceFromAttributes({
      "service.name": options.service,
      "service.instance.id": options.member,
    }),
    spanProcessors: processors,
  });
  return {
    tracer: provider.getTracer("grpc-shop-mesh"),
    buffer,
    exporting: processors.length > 1,
    flush: () => provider.forceFlush(),
  };
}

/** Span options for the calls of one method, made once: `kind` and the OTel rpc.* attributes. */
export function rpcSpanOptions(kind: SpanKind, path: string, extra: Attributes = {}): SpanOptions {
  const [service, method] = path.slice(1).split("/");
  return {
    kind,
    attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, ...extra },
  };
}

/** Starts a span, child of `parent` when there is one (a remote context or a local span). */
export function startSpan(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  parent: SpanContext | Span | undefined,
): Span {
  if (!parent) return tracer.startSpan(name, options, ROOT_CONTEXT);
  const context =
    "spanContext" in parent
      ? trace.setSpan(ROOT_CONTEXT, parent)
      : trace.setSpanContext(ROOT_CONTEXT, parent);
  return tracer.startSpan(name, options, context);
}

// One status object per gRPC code, made once: ending a span allocates nothing for it.
const ERROR_STATUSES = new Map<string, { code: SpanStatusCode; message: string }>();

/** Ends a span with a status name ("OK" or a gRPC code name), as `/traces` reports it. */
export function endSpan(span: Span, statusName: string): void {
  span.setAttribute(STATUS_ATTRIBUTE, statusName);
  if (statusName !== "OK") {
    let status = ERROR_STATUSES.get(statusName);
    if (!status)
      ERROR_STATUSES.set(
        statusName,
        (status = { code: SpanStatusCode.ERROR, message: statusName }),
      );
    span.setStatus(status);
  }
  span.end();
}

export { SpanKind };
