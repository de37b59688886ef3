import { performance } from "node:perf_hooks";
import type { Span, SpanOptions, Tracer } from "@opentelemetry/api";
import type { Knex } from "knex";
import type { HistogramSeries } from "./lean-metrics";
import type { MeshMetrics } from "./mesh-metrics";
import { activeSpan, endSpan, SpanKind, startSpan } from "./tracing";

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
 * Times every query of a knex instance into `mesh_store_query_duration_seconds{op}` and, when
 * a call's span is active (see `activeSpan`), records a span "store <op>" under it. Listens to
 * knex's `query`, `query-response` and `query-error` events, so the store code is unchanged.
 */
export function probeStore(db: Knex, metrics: MeshMetrics, tracer: Tracer): void {
  const running = new Map<string, Running>();
  const ops = new Map<string, { series: HistogramSeries; name: string; options: SpanOptions }>();
  const opOf = (event: QueryEvent) => {
    const sql = event.sql ?? "";
    let found = ops.get(sql);
    if (!found) {
      if (ops.size >= MAX_CACHED_OPS) ops.clear();
      const op = operationOf(event.method, sql);
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

  db.on("query", (event: QueryEvent) => {
    const { series, name, options } = opOf(event);
    const parent = activeSpan.getStore();
    const span = parent ? startSpan(tracer, name, options, parent) : undefined;
    running.set(event.__knexQueryUid, { startedAt: performance.now(), series, span });
  });
  db.on("query-response", (_response: unknown, event: QueryEvent) => finish(event, "OK"));
  db.on("query-error", (_error: unknown, event: QueryEvent) => finish(event, "UNKNOWN"));
}
