import { randomBytes } from "node:crypto";

/** A finished span, in the shape every member's admin `/traces` serves (TELEMETRY contract). */
export interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: "server" | "client" | "internal";
  service: string;
  member: string;
  /** Epoch ms. */
  startMs: number;
  durationMs: number;
  /** "OK" or a gRPC code name. */
  status: string;
  attributes: Record<string, string | number | boolean>;
}

/** A W3C trace context: https://www.w3.org/TR/trace-context/#traceparent-header */
export interface TraceContext {
  traceId: string;
  /** The caller's span: the parent of ours. */
  parentSpanId?: string;
  sampled: boolean;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export const newTraceId = (): string => randomBytes(16).toString("hex");
export const newSpanId = (): string => randomBytes(8).toString("hex");

/** The context of an incoming `traceparent`, or a new trace when it is absent or invalid. */
export function traceContextOf(header: string | undefined): TraceContext {
  const match = header ? TRACEPARENT.exec(header.trim().toLowerCase()) : null;
  if (!match || match[1] === ZERO_TRACE || match[2] === ZERO_SPAN) {
    return { traceId: newTraceId(), sampled: true };
  }
  return { traceId: match[1], parentSpanId: match[2], sampled: (parseInt(match[3], 16) & 1) === 1 };
}

/** The `traceparent` header value naming `spanId` as the parent of the next hop. */
export function traceparentOf(traceId: string, spanId: string, sampled = true): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

/** Keeps this many spans by default, as the members' admin buffers do. */
export const DEFAULT_SPAN_CAPACITY = 2_000;

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
