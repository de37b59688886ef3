import perfHooks from "node:perf_hooks";
import { createMeshMetrics, EVENT_LOOP_SAMPLE_MS } from "./mesh-metrics";

/** The value of a metric's first sample in the registry's text. */
async function sample(text: Promise<string>, name: string): Promise<number> {
  const line = (await text).split("\n").find((l) => l.startsWith(`${name}{`));
  if (!line) throw new Error(`${name} is not exported`);
  return Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("createMeshMetrics", () => {
  afterEach(() => jest.restoreAllMocks());

  it(`samples the event loop every ${EVENT_LOOP_SAMPLE_MS} ms, not prom-client's 10`, () => {
    const monitor = jest.spyOn(perfHooks, "monitorEventLoopDelay");
    const { registry } = createMeshMetrics({ service: "test", member: "test-1" });
    expect(monitor).toHaveBeenCalledWith({ resolution: EVENT_LOOP_SAMPLE_MS });
    registry.clear();
  });

  it("still reports a stalled event loop as lag", async () => {
    const { registry } = createMeshMetrics({ service: "test", member: "test-1" });
    // Let the monitor's timer start, then hold the loop for 300 ms: its next tick is late.
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_SAMPLE_MS));
    const until = performance.now() + 300;
    while (performance.now() < until);
    await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_SAMPLE_MS * 2));
    const max = await sample(registry.metrics(), "nodejs_eventloop_lag_max_seconds");
    expect(max).toBeGreaterThan(0.15);
    expect(await sample(registry.metrics(), "nodejs_eventloop_lag_p99_seconds")).toBeGreaterThan(0);
    registry.clear();
  });
});
