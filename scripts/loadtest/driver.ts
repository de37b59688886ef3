import { status } from "@grpc/grpc-js";
import { isGrpcError } from "../../mesh";
import { LatencyRecorder, nowMs, type LatencySummary } from "../stats";
import type { Step } from "./journeys";

/**
 * Open model (a fixed rate of arrivals) or closed model (a fixed number in flight). An open
 * model with `maxInFlight` drops an arrival that finds that many requests in flight (k6's
 * constant-arrival-rate with its maxVUs does the same), so that a stalled target is not sent
 * an unbounded backlog; the result counts them (`dropped`).
 */
export type LoadModel =
  | { kind: "rate"; perSecond: number; maxInFlight?: number }
  | { kind: "concurrency"; workers: number };

/** Options for {@link runLoad}. */
export interface LoadOptions {
  model: LoadModel;
  /** Stop sending after this long. */
  durationMs: number;
  /** And after this many requests. */
  maxRequests: number;
  next: () => Step;
  /** Called about every `progressMs` with the numbers so far. */
  onProgress?: (progress: LoadProgress) => void;
  /** Defaults to 1 second. */
  progressMs?: number;
}

/** The numbers so far, for a progress display. */
export interface LoadProgress {
  elapsedMs: number;
  durationMs: number;
  sent: number;
  done: number;
  errors: number;
  inFlight: number;
  maxRequests: number;
}

/** One second of the run, by when requests ended. */
export interface SecondStats {
  second: number;
  completed: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

/** Everything a run measured. */
export interface LoadResult {
  sent: number;
  ok: number;
  elapsedMs: number;
  /** Completed requests (answered, with or without error) per second. */
  rps: number;
  /** Latency of successful requests: from the intended send time (open) or the send (closed). */
  latency: LatencySummary;
  /** Failed requests by gRPC code name. */
  errorsByCode: Record<string, number>;
  /** Arrivals of an open model not sent because `maxInFlight` requests were in flight. */
  dropped: number;
  byMethod: Record<string, LatencySummary & { errors: number }>;
  timeline: SecondStats[];
}

/**
 * Runs a load. In the open model each request has an intended send time (start + i / rate)
 * and its latency is measured from that time, not from when it was actually sent, so a
 * stalled client or server cannot hide its own delay (no coordinated omission). In the closed
 * model each worker sends its next request when the last one ended. Resolves once every
 * request sent has ended.
 */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const all = new LatencyRecorder();
  const methods = new Map<string, { latency: LatencyRecorder; errors: number }>();
  const seconds: { latency: LatencyRecorder; errors: number }[] = [];
  const errorsByCode: Record<string, number> = {};
  const began = nowMs();
  const stopAt = began + options.durationMs;
  let sent = 0;
  let done = 0;
  let errors = 0;
  let dropped = 0;

  const record = (method: string, intendedAt: number, err: unknown): void => {
    const end = nowMs();
    done++;
    const second = Math.floor((end - began) / 1000);
    while (seconds.length <= second) seconds.push({ latency: new LatencyRecorder(256), errors: 0 });
    let m = methods.get(method);
    if (!m) methods.set(method, (m = { latency: new LatencyRecorder(1024), errors: 0 }));
    if (err) {
      errors++;
      m.errors++;
      seconds[second].errors++;
      const code = isGrpcError(err) ? status[err.code] : "CLIENT_ERROR";
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
      return;
    }
    const ms = end - intendedAt;
    all.record(ms);
    m.latency.record(ms);
    seconds[second].latency.record(ms);
  };
  const send = (intendedAt: number): Promise<void> => {
    sent++;
    const step = options.next();
    return step.run().then(
      () => record(step.method, intendedAt, undefined),
      (err: unknown) => record(step.method, intendedAt, err ?? new Error("rejected")),
    );
  };
  const sending = (): boolean => sent < options.maxRequests && nowMs() < stopAt;

  const progressTimer = setInterval(() => {
    options.onProgress?.({
      elapsedMs: nowMs() - began,
      durationMs: options.durationMs,
      sent,
      done,
      errors,
      inFlight: sent - done,
      maxRequests: options.maxRequests,
    });
  }, options.progressMs ?? 1_000);

  const finished = new Promise<void>((resolve) => {
    const model = options.model;
    if (model.kind === "concurrency") {
      let workers = model.workers;
      const work = (): void => {
        if (!sending()) {
          if (--workers === 0) resolve();
          return;
        }
        void send(nowMs()).then(work);
      };
      for (let i = 0; i < model.workers; i++) work();
      return;
    }
    const interval = 1_000 / model.perSecond;
    const maxInFlight = model.maxInFlight ?? Infinity;
    let i = 0;
    const tick = (): void => {
      const now = nowMs();
      // Every request whose time has come goes now, even if the timer fired late.
      while (sent < options.maxRequests && began + i * interval <= Math.min(now, stopAt)) {
        if (sent - done < maxInFlight) void send(began + i * interval);
        else dropped++;
        i++;
      }
      if (!sending()) {
        const wait = (): void => (sent === done ? resolve() : void setTimeout(wait, 5));
        return wait();
      }
      setTimeout(tick, Math.max(0, began + i * interval - nowMs()));
    };
    tick();
  });

  return finished.then(() => {
    clearInterval(progressTimer);
    const elapsedMs = nowMs() - began;
    return {
      sent,
      ok: all.count,
      elapsedMs,
      rps: (done * 1000) / elapsedMs,
      latency: all.summary(),
      errorsByCode,
      dropped,
      byMethod: Object.fromEntries(
        [...methods].map(([name, m]) => [name, { ...m.latency.summary(), errors: m.errors }]),
      ),
      timeline: seconds.map((s, second) => {
        const l = s.latency.summary();
        return {
          second,
          completed: l.count + s.errors,
          errors: s.errors,
          p50: l.p50,
          p99: l.p99,
          max: l.max,
        };
      }),
    };
  });
}
