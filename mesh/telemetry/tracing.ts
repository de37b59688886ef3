import { AsyncLocalStorage } from "node:async_hooks";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from "@opentelemetry/api";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type IdGenerator,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { randomPool } from "../api/random";
import { codeName } from "./grpc-codes";
import { samplerFromEnv, type TraceSampler } from "./sampler";
import { SpanBuffer } from "./span-buffer";

/** Options for {@link createTracing}. */
export interface TracingOptions {
  service: string;
  member: string;
  /** Spans kept for `/traces`. Defaults to 2000. */
  capacity?: number;
  /**
   * OTLP/HTTP collector base URL (`http://localhost:4318`); spans then also go there in
   * batches. Defaults to `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
   * (the exporter also reads OTel's other `OTEL_EXPORTER_OTLP_*` variables), else none;
   * `OTEL_TRACES_EXPORTER=none` turns the export off.
   */
  otlpEndpoint?: string;
  /**
   * Where the OTel variables are read, and `MESH_TRACE_SAMPLE` (which spans are recorded:
   * sampler.ts). Defaults to `process.env`.
   */
  env?: NodeJS.ProcessEnv;
}

/** A process's tracer, its in-memory buffer, and the export pipeline. */
export interface Tracing {
  /** Makes the recorded spans; {@link startSpan} decides which spans it is asked for. */
  readonly tracer: Tracer;
  /** Which spans are recorded. */
  readonly sampler: TraceSampler;
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

/**
 * Starts the OpenTelemetry SDK for one process (no global registration: tests run several).
 * The resource is `service.name` and `service.instance.id` (the member), under what
 * `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` say, as every OTel SDK reads them.
 */
export function createTracing(options: TracingOptions): Tracing {
  const env = options.env ?? process.env;
  const buffer = new SpanBuffer(options, options.capacity);
  const processors: SpanProcessor[] = [buffer];
  const endpoint =
    options.otlpEndpoint ??
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
    env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint && env.OTEL_TRACES_EXPORTER !== "none") {
    // Loaded only when used: the exporter pulls in protobuf and HTTP code a plain run never needs.
    type Exporter = typeof import("@opentelemetry/exporter-trace-otlp-http");
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http") as Exporter;
    const url = options.otlpEndpoint
      ? `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces`
      : undefined;
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter(url ? { url } : {})));
  }
  // The environment's attributes win over ours (Resource.merge keeps the argument's).
  const resource = resourceFromAttributes({
    "service.name": options.service,
    "service.instance.id": options.member,
  }).merge(detectResources({ detectors: [envDetector] }));
  // The sampler decides before the SDK is asked (startSpan): the SDK records whatever it gets.
  const sampler = samplerFromEnv(env);
  const provider = new BasicTracerProvider({
    sampler: new AlwaysOnSampler(),
    idGenerator: traceIds,
    resource,
    spanProcessors: processors,
  });
  return {
    tracer: provider.getTracer("grpc-shop-mesh"),
    sampler,
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

/**
 * Trace and span ids from the process's pool of random bytes (OTel's generator draws each byte
 * from `Math.random`). A new trace's id is drawn first, for the sampler to decide on; the SDK
 * then gets that id as the "generated" one.
 */
class PooledIds implements IdGenerator {
  /** The id of the root span being started, handed over to the SDK's call. */
  next: string | undefined = undefined;

  hex(bytes: number): string {
    const at = randomPool.take(bytes);
    const id = randomPool.bytes.toString("hex", at, at + bytes);
    // All zeros is the invalid id (W3C); one in 2^64 draws.
    return /[^0]/.test(id) ? id : this.hex(bytes);
  }

  generateTraceId(): string {
    const id = this.next ?? this.hex(16);
    this.next = undefined;
    return id;
  }

  generateSpanId(): string {
    return this.hex(8);
  }
}

const traceIds = new PooledIds();

/**
 * Starts a span, child of `parent` when there is one (a remote context or a local span). The
 * sampler decides first: an unrecorded span is OTel's non-recording span around new ids (its
 * trace's id, which `traceparent`, logs and errors carry), made without the SDK.
 */
export function startSpan(
  tracing: Pick<Tracing, "tracer" | "sampler">,
  name: string,
  options: SpanOptions,
  parent: SpanContext | Span | undefined,
): Span {
  const parentContext = parent && ("spanContext" in parent ? parent.spanContext() : parent);
  const traceId = parentContext ? parentContext.traceId : traceIds.hex(16);
  if (!tracing.sampler.sample(traceId, parentContext)) {
    return trace.wrapSpanContext({
      traceId,
      spanId: traceIds.hex(8),
      traceFlags: TraceFlags.NONE,
      traceState: parentContext?.traceState,
    });
  }
  const tracer = tracing.tracer;
  if (!parent) {
    traceIds.next = traceId;
    return tracer.startSpan(name, options, ROOT_CONTEXT);
  }
  let context;
  if ("spanContext" in parent) {
    context = contextOf.get(parent);
    if (!context) contextOf.set(parent, (context = trace.setSpan(ROOT_CONTEXT, parent)));
  } else {
    context = trace.setSpanContext(ROOT_CONTEXT, parent);
  }
  return tracer.startSpan(name, options, context);
}

// A call's span parents several spans (its store queries, its outgoing calls); each OTel
// context copies a Map, so one is made per parent span and kept while the span lives.
const contextOf = new WeakMap<Span, Context>();

// One status object per error name, made once: ending a span allocates nothing for it.
const ERROR_STATUSES = new Map<string, { code: SpanStatusCode; message: string }>();

function errorStatus(name: string): { code: SpanStatusCode; message: string } {
  let status = ERROR_STATUSES.get(name);
  if (!status) ERROR_STATUSES.set(name, (status = { code: SpanStatusCode.ERROR, message: name }));
  return status;
}

/**
 * Ends an RPC span with its gRPC status code: `rpc.grpc.status_code`, and an error status
 * for anything but OK (OTel's semantic conventions for gRPC).
 */
export function endRpcSpan(span: Span, code: number): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (code !== 0) span.setStatus(errorStatus(codeName(code)));
  span.end();
}

/**
 * Ends a span that is not an RPC: "OK", or an error whose name goes in `error.type` (OTel's
 * attribute for the class of an error) and the span's status.
 */
export function endSpan(span: Span, statusName: string): void {
  if (statusName !== "OK") {
    span.setAttribute("error.type", statusName);
    span.setStatus(errorStatus(statusName));
  }
  span.end();
}

export { SpanKind };
