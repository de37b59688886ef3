/**
 * Gives a burst's garbage back once the process goes idle.
 *
 * V8 collects its old generation when allocation pushes it there, so a member that served a
 * burst (hostile or not) keeps the burst's garbage, tens of MB, until traffic comes back. V8's
 * memory reducer, which would collect an idle heap, does not run in Node: it waits for a low
 * allocation rate, which V8 measures only at a collection, so an isolate that went idle right
 * after a burst reads as allocating fast for ever (`node --trace-memory-reducer` prints "high
 * alloc, foreground" every 8 s). Measured after 10,000 fuzz calls: 35 MB of heap and 19 MB of
 * buffers were garbage a minute later; one full collection took each member back to within
 * 15–20 MB of where it was before the calls.
 *
 * So every {@link CHECK_MS}, when no call started in that time (no traffic to delay), nor in
 * the {@link AFTER_TRAFFIC_MS} before it once the process has served calls (see below), the
 * event loop was busy less than {@link IDLE_UTILIZATION} of it (no background work either), and
 * the heap and buffers or the resident memory are {@link GROWTH_BYTES} over what they were
 * after the last collection, the process collects once. (The resident memory too: V8 may have
 * collected a burst itself while glibc still holds what it freed, see below.) A process that
 * stays busy never gets here: V8 collects as it goes. The busy share alone is not the test: an
 * idle member's health checks, outbox polls and metrics take 1–2 % of its loop, more on a
 * loaded machine, where each takes longer (CI: a member that served the fuzz test's last calls
 * kept 60 MB of garbage past the 1 % bound).
 *
 * The collection is V8's "last resort" one, which also compacts the heap and hands its
 * emptied pages back: after a plain full collection V8 keeps the pages it had grown to
 * (a process with 90 MB of garbage: 106 MB resident after a plain one, 56 MB after this;
 * 33 ms and 100 ms). An idle member pays those milliseconds once per 8 MB of garbage, and
 * once after it starts (payments: 167 ms on a loaded machine; each is logged at debug level
 * with what it freed and took).
 *
 * Then it hands what glibc's allocator kept free back to the system (malloc-trim.ts): without
 * that, a member's resident memory after a burst stays 15–35 MB above its start even once
 * its heap is back, in allocator pages nothing uses.
 *
 * That is what makes the next calls dear: the last-resort collection also drops the code V8
 * compiled and the feedback it optimized with, and the heap and the allocator must grow back
 * page by page. Traffic that pauses for a few seconds is still traffic: measured on the real
 * PlaceOrder graph in 2 s rounds with 6 s pauses between them (bench section c's pattern),
 * 5.98 ms of CPU per order when each pause ended in a collection, 4.25 ms without them,
 * 4.98 ms with the compiled code kept. So a process that has served calls collects only once
 * none started for {@link AFTER_TRAFFIC_MS}; before its first call (what starting up left
 * behind) the one quiet check suffices.
 */
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Logger } from "../telemetry/logger";
import { MALLOC_TRIM_ADDON } from "../config/paths";
import { mallocTrimAddon, releaseFreedMemory } from "./malloc-trim";

const CHECK_MS = 5_000;
/** Busy at most this share of the last {@link CHECK_MS}: 500 ms in 5 s. */
const IDLE_UTILIZATION = 0.1;
const GROWTH_BYTES = 8 * 1_048_576;
/** Quiet needed after the last call before a collection: a pause shorter than this is traffic. */
const AFTER_TRAFFIC_MS = 20_000;

/** The options of V8's `gc()` (its gc extension, `--expose-gc`). */
interface GcOptions {
  type: "major";
  /** Without it, a plain full collection. */
  flavor?: "last-resort";
}

/** V8's own `gc()`: exposed for one new context, then the flag is put back. */
export function exposeGc(): (options: GcOptions) => void {
  setFlagsFromString("--expose-gc");
  try {
    return runInNewContext("gc") as (options: GcOptions) => void;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
}

const heldBytes = (): number => {
  const { used_heap_size, external_memory } = getHeapStatistics();
  return used_heap_size + external_memory;
};

/** What one idle collection did. */
export interface IdleCollection {
  /** Bytes of heap and buffers it freed. */
  heapFreed: number;
  /** Bytes of resident memory the process gave back. */
  residentFreed: number;
  /** Its time, the allocator's trim included. */
  tookMs: number;
  /** Whether glibc gave pages back (malloc-trim.ts). */
  trimmed: boolean;
}

/** Options for {@link collectWhenIdle}. */
export interface IdleCollectOptions {
  /** Calls started so far (a counter): a period in which it moved is not idle. */
  activity?: () => number;
  /** Called after each collection with what it did. */
  onCollect?: (collection: IdleCollection) => void;
  /** How often to look; {@link CHECK_MS} unless a test wants it sooner. */
  checkMs?: number;
  /** Busy share under which a period counts as idle; {@link IDLE_UTILIZATION} by default. */
  idleUtilization?: number;
  /** Quiet needed after the last call; {@link AFTER_TRAFFIC_MS} unless a test wants it sooner. */
  afterTrafficMs?: number;
}

/** Starts the idle check (its timer does not keep the process alive); returns its stop. */
export function collectWhenIdle({
  activity = () => 0,
  onCollect,
  checkMs = CHECK_MS,
  idleUtilization = IDLE_UTILIZATION,
  afterTrafficMs = AFTER_TRAFFIC_MS,
}: IdleCollectOptions = {}): () => void {
  // Exposed at the first collection, not at start (a new V8 context: about 8 ms of CPU).
  let gc: ((options: GcOptions) => void) | undefined;
  // Nothing collected yet: the first idle check also collects what starting up left behind
  // (6 to 8 MB of a member's resident memory).
  let settled = 0;
  let settledResident = 0;
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  let calls = activity();
  // When a check last saw calls start; undefined before the first.
  let trafficAt: number | undefined;
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    const callsNow = activity();
    const moved = callsNow !== calls;
    calls = callsNow;
    if (moved) trafficAt = performance.now();
    const quiet =
      !moved && (trafficAt === undefined || performance.now() - trafficAt >= afterTrafficMs);
    const held = heldBytes();
    const resident = process.memoryUsage.rss();
    const grown = Math.max(held - settled, resident - settledResident);
    if (!quiet || busy >= idleUtilization || grown < GROWTH_BYTES) return;
    const started = performance.now();
    gc ??= exposeGc();
    gc({ type: "major", flavor: "last-resort" });
    const trimmed = releaseFreedMemory();
    const tookMs = performance.now() - started;
    settled = heldBytes();
    settledResident = process.memoryUsage.rss();
    onCollect?.({
      heapFreed: held - settled,
      residentFreed: resident - settledResident,
      tookMs,
      trimmed,
    });
    // The collection's own time is not traffic.
    last = performance.eventLoopUtilization();
  }, checkMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * {@link collectWhenIdle} for a member, idle when `calls` (started so far) did not move; each
 * collection is logged at debug level.
 */
export function collectIdleGarbage(log: Logger, calls: () => number): () => void {
  if (process.platform === "linux" && !mallocTrimAddon()) {
    log.warn(
      { addon: MALLOC_TRIM_ADDON },
      "no malloc_trim addon (npm install could not compile it): memory freed after a burst stays with the process",
    );
  }
  return collectWhenIdle({
    activity: calls,
    onCollect: ({ heapFreed, residentFreed, tookMs, trimmed }) =>
      log.debug(
        {
          heapFreedMB: Math.round(heapFreed / 1_048_576),
          residentFreedMB: Math.round(residentFreed / 1_048_576),
          tookMs: Math.round(tookMs),
          trimmed,
        },
        "collected garbage while idle",
      ),
  });
}
