import { collectDefaultMetrics, Registry } from "prom-client";
import { CounterFamily, GaugeFamily, HistogramFamily } from "./lean-metrics";

/** Histogram buckets in seconds, the same for every latency metric (TELEMETRY-CONTRACT.md). */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/**
 * How often prom-client's event-loop-lag histogram (`nodejs_eventloop_lag_p99_seconds` and the
 * rest) samples the loop, in milliseconds. Its monitor is a repeating timer
 * (`perf_hooks.monitorEventLoopDelay`), and prom-client's default of 10 ms wakes every process
 * 100 times a second for ever: an idle member's main thread woke 103 times a second, 122 with
 * all its threads, and 25 to 30 without the monitor; under load the wakes land between calls
 * (section c: 37 to 39 context switches per order with it, 33 to 35 without). At 100 ms a
 * lag still shows in the histogram (a stall of the loop delays the timer that is due in it),
 * with 150 samples in a 15 s scrape.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Every metric a mesh process exports, by its Prometheus name. */
export interface MeshMetrics {
  /** Scraped at the admin server's `/metrics`; default labels `service` and `member`. */
  readonly registry: Registry;
  readonly serverHandled: CounterFamily;
  readonly serverHandling: HistogramFamily;
  readonly serverInFlight: GaugeFamily;
  readonly clientHandled: CounterFamily;
  readonly clientHandling: HistogramFamily;
  readonly retries: CounterFamily;
  readonly hedges: CounterFamily;
  readonly ejections: CounterFamily;
  readonly breakerState: GaugeFamily;
  readonly storeQuery: HistogramFamily;
}

/**
 * A registry of its own for one process (never prom-client's global one, so that tests can
 * run several mesh processes in one), labelled `service` and `member`, with the process
 * metrics prom-client collects (CPU, memory, event loop lag, GC).
 */
export function createMeshMetrics(labels: { service: string; member: string }): MeshMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const counter = (name: string, help: string) => new CounterFamily(name, help, registry);
  const gauge = (name: string, help: string) => new GaugeFamily(name, help, registry);
  const histogram = (name: string, help: string) =>
    new HistogramFamily(name, help, registry, LATENCY_BUCKETS);
  return {
    registry,
    serverHandled: counter("grpc_server_handled_total", "RPCs completed on the server."),
    serverHandling: histogram(
      "grpc_server_handling_seconds",
      "Time from a call reaching its handler to its answer being sent.",
    ),
    serverInFlight: gauge("grpc_server_in_flight", "Handlers running now."),
    clientHandled: counter("grpc_client_handled_total", "RPCs completed by the client."),
    clientHandling: histogram(
      "grpc_client_handling_seconds",
      "Time from a call starting to its answer, retries and hedges included.",
    ),
    retries: counter(
      "mesh_client_retries_total",
      "Retry attempts that reached this server (grpc-previous-rpc-attempts > 0, method not hedged).",
    ),
    hedges: counter(
      "mesh_client_hedges_total",
      "Hedged attempts that reached this server (grpc-previous-rpc-attempts > 0, hedged method).",
    ),
    ejections: counter(
      "mesh_outlier_ejections_total",
      "Instances of a peer ejected by outlier detection (only UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL and UNKNOWN count).",
    ),
    breakerState: gauge("mesh_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open."),
    storeQuery: histogram("mesh_store_query_duration_seconds", "Store (SQL) query durations."),
  };
}
