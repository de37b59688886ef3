import type { SpanRecord as Span } from "../../../mesh/telemetry";

/** A trace as the dashboard draws it: its root span, then the others in start order. */
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
      const byStart = [...spanMap.values()].sort((a, b) => a.startMs - b.startMs);
      const root =
        byStart.find((s) => !s.parentSpanId || !spanMap.has(s.parentSpanId)) ?? byStart[0];
      // The root first, whatever the clocks say: members' (and one process's HTTP and gRPC)
      // span times come from different clocks, so a child can appear to start a little earlier.
      const spans = [root, ...byStart.filter((s) => s !== root)];
      const end = Math.max(...spans.map((s) => s.startMs + s.durationMs));
      const failed = spans.find((s) => s.status !== "OK");
      return {
        traceId,
        name: root.name,
        startMs: byStart[0].startMs,
        durationMs: end - byStart[0].startMs,
        status: failed?.status ?? "OK",
        spans,
      };
    });
    return traces.sort((a, b) => b.startMs - a.startMs).slice(0, limit);
  }
}
