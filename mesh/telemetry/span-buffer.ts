import { SpanKind, type HrTime } from "@opentelemetry/api";
import type { ReadableSpan, SpanProcessor } from "@opentelemetry/sdk-trace-base";

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

/** The attribute the mesh puts the status's name in, read back for {@link SpanRecord.status}. */
export const STATUS_ATTRIBUTE = "mesh.status";
/** Spans kept unless the options say otherwise. */
export const DEFAULT_SPAN_CAPACITY = 2_000;

const KINDS: Record<number, SpanRecord["kind"]> = {
  [SpanKind.SERVER]: "server",
  [SpanKind.CLIENT]: "client",
};
const toMs = (time: HrTime): number => time[0] * 1_000 + time[1] / 1_000_000;

/**
 * The last `capacity` finished spans of this process, oldest overwritten first, for the
 * admin server's `/traces`. Spans are kept as the SDK hands them over and turned into
 * {@link SpanRecord}s only when asked for, so a span that nobody reads costs one slot write.
 */
export class SpanBuffer implements SpanProcessor {
  private readonly slots: (ReadableSpan | undefined)[];
  private next = 0;

  constructor(
    private readonly labels: { service: string; member: string },
    readonly capacity = DEFAULT_SPAN_CAPACITY,
  ) {
    this.slots = new Array<ReadableSpan | undefined>(capacity);
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    this.slots[this.next] = span;
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
      const span = this.slots[(this.next + i) % this.capacity];
      if (span && toMs(span.endTime) >= sinceMs) found.push(this.record(span));
    }
    return limit < found.length ? found.slice(found.length - Math.max(0, limit)) : found;
  }

  private record(span: ReadableSpan): SpanRecord {
    const { traceId, spanId } = span.spanContext();
    const attributes: SpanRecord["attributes"] = {};
    for (const [key, value] of Object.entries(span.attributes)) {
      if (key === STATUS_ATTRIBUTE) continue;
      if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
        attributes[key] = value;
    }
    const status = span.attributes[STATUS_ATTRIBUTE];
    return {
      traceId,
      spanId,
      ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
      name: span.name,
      kind: KINDS[span.kind] ?? "internal",
      service: this.labels.service,
      member: this.labels.member,
      startMs: toMs(span.startTime),
      durationMs: toMs(span.duration),
      status: typeof status === "string" ? status : "OK",
      attributes,
    };
  }
}
