import { SpanKind, type HrTime } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { codeName } from "./grpc-codes";

/** A finished span as `/traces` serves it (TELEMETRY-CONTRACT.md). */
export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: "server" | "client" | "internal";
  service: string;
  member: string;
  /** Epoch milliseconds, fractional. */
  startMs: number;
  durationMs: number;
  /** "OK" or a gRPC code name such as "UNAVAILABLE". */
  status: string;
  attributes: Record<string, string | number | boolean>;
}

/** Spans kept unless the options say otherwise. */
export const DEFAULT_SPAN_CAPACITY = 2_000;

const KINDS: Record<number, SpanRecord["kind"]> = {
  [SpanKind.SERVER]: "server",
  [SpanKind.CLIENT]: "client",
};
/**
 * What `/traces` calls a span's outcome: the gRPC code's name of an RPC span
 * (`rpc.grpc.status_code`), else its `error.type` (HTTP and store spans), else "OK".
 */
function statusOf(attributes: ReadableSpan["attributes"]): string {
  const code = attributes["rpc.grpc.status_code"];
  if (typeof code === "number") return codeName(code);
  const error = attributes["error.type"];
  return typeof error === "string" ? error : "OK";
}

const toMs = (time: HrTime): number => time[0] * 1_000 + time[1] / 1_000_000;

/** What the buffer keeps of a span: little, so that a full buffer costs the GC little. */
interface Kept {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: SpanRecord["kind"];
  startMs: number;
  endMs: number;
  durationMs: number;
  /** The span's own attribute object, shared (the SDK no longer changes it once ended). */
  attributes: ReadableSpan["attributes"];
}

/**
 * The last `capacity` finished spans of this process, oldest overwritten first, for the
 * admin server's `/traces`. A span is reduced to a few fields when it ends, so the SDK's span
 * object is not kept alive; it becomes a {@link SpanRecord} only when someone asks.
 */
export class SpanBuffer implements SpanProcessor {
  private readonly slots: (Kept | undefined)[];
  private next = 0;

  constructor(
    private readonly labels: { service: string; member: string },
    readonly capacity = DEFAULT_SPAN_CAPACITY,
  ) {
    this.slots = new Array<Kept | undefined>(capacity);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const context = span.spanContext();
    const startMs = toMs(span.startTime);
    const durationMs = toMs(span.duration);
    this.slots[this.next] = {
      traceId: context.traceId,
      spanId: context.spanId,
      parentSpanId: span.parentSpanContext?.spanId,
      name: span.name,
      kind: KINDS[span.kind] ?? "internal",
      startMs,
      endMs: startMs + durationMs,
      durationMs,
      attributes: span.attributes,
    };
    this.next = (this.next + 1) % this.capacity;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Spans that ended at or after `sinceMs` (epoch ms), the newest `limit` of them, newest
   * last (in the order they ended).
   */
  query(sinceMs = 0, limit = this.capacity): SpanRecord[] {
    const found: SpanRecord[] = [];
    for (let i = 0; i < this.capacity; i++) {
      const kept = this.slots[(this.next + i) % this.capacity];
      if (kept && kept.endMs >= sinceMs) found.push(this.record(kept));
    }
    return limit < found.length ? found.slice(found.length - Math.max(0, limit)) : found;
  }

  private record(kept: Kept): SpanRecord {
    const attributes: SpanRecord["attributes"] = {};
    for (const [key, value] of Object.entries(kept.attributes)) {
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
        attributes[key] = value;
    }
    return {
      traceId: kept.traceId,
      spanId: kept.spanId,
      ...(kept.parentSpanId ? { parentSpanId: kept.parentSpanId } : {}),
      name: kept.name,
      kind: kept.kind,
      service: this.labels.service,
      member: this.labels.member,
      startMs: kept.startMs,
      durationMs: kept.durationMs,
      status: statusOf(kept.attributes),
      attributes,
    };
  }
}
