import { performance } from "node:perf_hooks";
import type { Span, SpanOptions } from "@opentelemetry/api";
import type { Knex } from "knex";
import type { HistogramSeries } from "./lean-metrics";
import type { MeshMetrics } from "./mesh-metrics";
import { activeSpan, endSpan, SpanKind, startSpan, type Tracing } from "./tracing";

/** What knex passes with its query events. */
interface QueryEvent {
  __knexQueryUid: string;
  method?: string;
  sql?: string;
}
interface Running {
  startedAt: number;
  series: HistogramSeries;
  span: Span | undefined;
}

// knex method names → SQL verbs; `raw` queries are named by their first keyword.
const VERBS: Record<string, string> = { del: "delete", first: "select", pluck: "select" };
const TABLE = /\b(?:from|into|update|table)\s+[`"[]?(\w+)/i;
// SQL texts repeat; their operation names are cached, within reason.
const MAX_CACHED_OPS = 1_000;

/** `insert orders`, `select stock`, `begin`: the operation of a query, without its values. */
export function operationOf(method: string | undefined, sql: string): string {
  const verb =
    !method || method === "raw"
      ? (/^\s*(\w+)/.exec(sql)?.[1] ?? "query").toLowerCase()
      : (VERBS[method] ?? method);
  const table = TABLE.exec(sql)?.[1];
  return table ? `${verb} ${table}` : verb;
}

/**
 * What watches the statements a store runs without knex (mesh/store/statement.ts): `start`
 * is called as one starts, and the function it returns as it ends.
 */
export interface QueryObserver {
  start(sql: string): (ok: boolean) => void;
}

/**
 * Times every query of a knex instance into `mesh_store_query_duration_seconds{op}` and, when
 * a call's span is active (see `activeSpan`) and recorded, records a span "store <op>" under
 * it. Listens to knex's `query`, `query-response` and `query-error` events, so the store code
 * is unchanged; returns the same probe for the statements the store runs without knex. When
 * the call is not sampled, a query costs a clock read and a histogram observation.
 */
export function probeStore(db: Knex, metrics: MeshMetrics, tracing: Tracing): QueryObserver {
  const running = new Map<string, Running>();
  const ops = new Map<string, { series: HistogramSeries; name: string; options: SpanOptions }>();
  const opOf = (method: string | undefined, sql: string) => {
    let found = ops.get(sql);
    if (!found) {
      if (ops.size >= MAX_CACHED_OPS) ops.clear();
      const op = operationOf(method, sql);
      found = {
        series: metrics.storeQuery.series({ op }),
        name: `store ${op}`,
        options: {
          kind: SpanKind.INTERNAL,
          attributes: { "db.system": "sqlite", "db.operation": op },
        },
      };
      ops.set(sql, found);
    }
    return found;
  };
  const finish = (event: QueryEvent, status: string): void => {
    const query = running.get(event.__knexQueryUid);
    if (!query) return;
    running.delete(event.__knexQueryUid);
    query.series.observe((performance.now() - query.startedAt) / 1_000);
    if (query.span) endSpan(query.span, status);
  };

  const spanUnder = (name: string, options: SpanOptions): Span | undefined => {
    const parent = activeSpan.getStore();
    return parent?.isRecording() ? startSpan(tracing, name, options, parent) : undefined;
  };

  db.on("query", (event: QueryEvent) => {
    const { series, name, options } = opOf(event.method, event.sql ?? "");
    const span = spanUnder(name, options);
    running.set(event.__knexQueryUid, { startedAt: performance.now(), series, span });
  });
  db.on("query-response", (_response: unknown, event: QueryEvent) => finish(event, "OK"));
  db.on("query-error", (_error: unknown, event: QueryEvent) => finish(event, "UNKNOWN"));

  return {
    start(sql) {
      const { series, name, options } = opOf("raw", sql);
      const span = spanUnder(name, options);
      const startedAt = performance.now();
      return (ok) => {
        series.observe((performance.now() - startedAt) / 1_000);
        if (span) endSpan(span, ok ? "OK" : "UNKNOWN");
      };
    },
  };
}
