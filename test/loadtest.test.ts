import { runLoad } from "../scripts/loadtest/driver";
import type { Step } from "../scripts/loadtest/journeys";
import { status } from "@grpc/grpc-js";

const after = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
// Shaped as grpc-js rejects a call: an Error with a numeric code and details.
const grpcError = (code: status, details: string): Error =>
  Object.assign(new Error(details), { code, details });
const step = (method: string, run: () => Promise<unknown>): Step => ({ method, run });

describe("loadtest driver", () => {
  it("stops at the request count and counts errors by code and by method", async () => {
    let n = 0;
    const result = await runLoad({
      model: { kind: "concurrency", workers: 3 },
      durationMs: 10_000,
      maxRequests: 30,
      next: () =>
        n++ % 3 === 0
          ? step("Bad", () => Promise.reject(grpcError(status.NOT_FOUND, "nope")))
          : step("Good", () => after(1)),
    });
    expect(result.sent).toBe(30);
    expect(result.ok).toBe(20);
    expect(result.errorsByCode).toEqual({ NOT_FOUND: 10 });
    expect(result.byMethod.Good.count).toBe(20);
    expect(result.byMethod.Bad.errors).toBe(10);
    expect(result.timeline.reduce((sum, s) => sum + s.completed, 0)).toBe(30);
  });

  it("in the open model, a stall is charged to every request that was due during it", async () => {
    const stallMs = 200;
    let first = true;
    const result = await runLoad({
      model: { kind: "rate", perSecond: 100 },
      durationMs: 400,
      maxRequests: 1_000,
      next: () =>
        step("Echo", () => {
          if (first) {
            // The first request blocks the event loop, as a stalled client would: the
            // requests due in the meantime go late, and their latency must show it.
            first = false;
            const until = Date.now() + stallMs;
            while (Date.now() < until);
          }
          return Promise.resolve();
        }),
    });
    // 100/s for 400 ms: the ~20 requests due during the stall still count, from their time.
    expect(result.sent).toBeGreaterThanOrEqual(35);
    expect(result.latency.max).toBeGreaterThanOrEqual(stallMs * 0.8);
  });

  it("in the open model, an arrival that finds maxInFlight requests in flight is dropped and counted", async () => {
    let inFlight = 0;
    let most = 0;
    const result = await runLoad({
      model: { kind: "rate", perSecond: 500, maxInFlight: 5 },
      durationMs: 300,
      maxRequests: 1_000,
      // A target slower than the rate: each request takes 100 ms.
      next: () =>
        step("Slow", async () => {
          most = Math.max(most, ++inFlight);
          await after(100);
          inFlight--;
        }),
    });
    expect(most).toBe(5);
    // 500/s for 300 ms is about 150 arrivals; 5 at a time for 100 ms each sends about 15.
    expect(result.sent).toBeLessThanOrEqual(25);
    expect(result.dropped).toBeGreaterThan(100);
    expect(result.sent + result.dropped).toBeGreaterThanOrEqual(140);
    expect(result.ok).toBe(result.sent);
  });

  it("stops at the duration when the count is not reached", async () => {
    const result = await runLoad({
      model: { kind: "rate", perSecond: 50 },
      durationMs: 300,
      maxRequests: 1_000_000,
      next: () => step("Echo", () => after(1)),
    });
    expect(result.sent).toBeGreaterThan(0);
    expect(result.sent).toBeLessThanOrEqual(16);
    expect(result.ok).toBe(result.sent);
    expect(result.dropped).toBe(0);
  });
});
