import type { SpanRecord as Span } from "../../../mesh";

/** A trace as the dashboard draws it: its spans in start order under the earliest one. */
export interface Trace {
  traceId: string;
  /** The root span's name (the earliest span's when the root was not collected). */
  name: string;
  startMs: number;
  durationMs: number;
  /** "OK", or the first failing span's status. */
  status: string;
  spans: Span[];
}

/** Keeps this many traces: enough for a screenful of recent ones. */
export const DEFAULT_TRACE_CAPACITY = 50;

/** The spans collected from every member, grouped by trace; the oldest traces go first. */
export class TraceStore {
  private readonly traces = new Map<string, Map<string, Span>>();

  constructor(private readonly capacity = DEFAULT_TRACE_CAPACITY) {}

  /** Adds spans, ignoring ones already held (polls overlap on purpose). */
  add(spans: readonly Span[]): void {
    for (const span of spans) {
      let trace = this.traces.get(span.traceId);
      if (!trace) {
        trace = new Map();
        this.traces.set(span.traceId, trace);
        if (this.traces.size > this.capacity) {
          this.traces.delete(this.traces.keys().next().value!);
        }
      }
      trace.set(span.spanId, span);
    }
  }

  /** The `limit` most recent traces, newest first. */
  recent(limit = 20): Trace[] {
    const traces = [...this.traces.entries()].map(([traceId, spanMap]) => {
      const spans = [...spanMap.values()].sort((a, b) => a.startMs - b.startMs);
      const root = spans.find((s) => !s.parentSpanId || !spanMap.has(s.parentSpanId)) ?? spans[0];
      const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
      const failed = spans.find((s) => s.status !== "OK");
      return {
        traceId,
        name: root.name,
        startMs: spans[0].startMs,
        durationMs: end - spans[0].startMs,
        status: failed?.status ?? "OK",
        spans,
      };
    });
    return traces.sort((a, b) => b.startMs - a.startMs).slice(0, limit);
  }
}
