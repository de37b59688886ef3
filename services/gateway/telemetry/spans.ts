import { randomBytes } from "node:crypto";
import { TraceFlags } from "@opentelemetry/api";
import {
  DEFAULT_SPAN_CAPACITY,
  formatTraceparent,
  parseTraceparent,
  type SpanRecord,
} from "../../../mesh/telemetry";

/** A finished span, in the shape every member's admin `/traces` serves: the mesh's own. */
export type Span = SpanRecord;

/** A W3C trace context: https://www.w3.org/TR/trace-context/#traceparent-header */
export interface TraceContext {
  traceId: string;
  /** The caller's span: the parent of ours. */
  parentSpanId?: string;
  sampled: boolean;
}

export const newTraceId = (): string => randomBytes(16).toString("hex");
export const newSpanId = (): string => randomBytes(8).toString("hex");

/** The context of an incoming `traceparent`, or a new trace when it is absent or invalid. */
export function traceContextOf(header: string | undefined): TraceContext {
  const parent = parseTraceparent(header?.trim().toLowerCase());
  if (!parent) return { traceId: newTraceId(), sampled: true };
  const sampled = (parent.traceFlags & TraceFlags.SAMPLED) !== 0;
  return { traceId: parent.traceId, parentSpanId: parent.spanId, sampled };
}

/** The `traceparent` header value naming `spanId` as the parent of the next hop. */
export function traceparentOf(traceId: string, spanId: string, sampled = true): string {
  return formatTraceparent({
    traceId,
    spanId,
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
  });
}

/** A bounded ring of finished spans, oldest overwritten first. */
export class SpanBuffer {
  private readonly ring: Span[] = [];
  private next = 0;

  constructor(private readonly capacity = DEFAULT_SPAN_CAPACITY) {}

  add(span: Span): void {
    if (this.ring.length < this.capacity) this.ring.push(span);
    else this.ring[this.next] = span;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Spans that ended at or after `sinceMs` (epoch ms), newest last, at most `limit`. */
  since(sinceMs = 0, limit = this.capacity): Span[] {
    const ordered =
      this.ring.length < this.capacity
        ? this.ring
        : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    const recent = ordered.filter((s) => s.startMs + s.durationMs >= sinceMs);
    return recent.slice(Math.max(0, recent.length - limit));
  }
}
