import { randomBytes } from "node:crypto";
import { ROOT_CONTEXT, TraceFlags, type SpanContext } from "@opentelemetry/api";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";
import { DEFAULT_TRACES_PER_SECOND, rateLimitedSampler, samplerFromEnv } from "./sampler";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const parent = (sampled: boolean): SpanContext => ({
  traceId: TRACE,
  spanId: "00f067aa0ba902b7",
  traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
  isRemote: true,
});
const root = (env: NodeJS.ProcessEnv) => samplerFromEnv(env).sample(TRACE, undefined);

describe("the sampler the environment asks for", () => {
  test("OTEL_TRACES_SAMPLER chooses it, with OTEL_TRACES_SAMPLER_ARG as its ratio", () => {
    expect(root({ OTEL_TRACES_SAMPLER: "always_off" })).toBe(false);
    expect(root({ OTEL_TRACES_SAMPLER: "parentbased_always_on" })).toBe(true);
    expect(
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "parentbased_always_on" }).sample(TRACE, parent(false)),
    ).toBe(false);
    // Not parent-based: the caller's decision does not count.
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: "always_on" }).sample(TRACE, parent(false))).toBe(
      true,
    );
    expect(
      root({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }),
    ).toBe(false);
  });

  test("a ratio decides by the trace id, as OTel's sampler does in every other process", () => {
    const mine = samplerFromEnv({
      OTEL_TRACES_SAMPLER: "traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
    });
    const otel = new TraceIdRatioBasedSampler(0.25);
    let recorded = 0;
    for (let i = 0; i < 4_000; i++) {
      const id = randomBytes(16).toString("hex");
      const decision = mine.sample(id, undefined);
      expect(decision).toBe(
        otel.shouldSample(ROOT_CONTEXT, id).decision === SamplingDecision.RECORD_AND_SAMPLED,
      );
      expect(mine.sample(id, undefined)).toBe(decision);
      if (decision) recorded++;
    }
    expect(recorded).toBeGreaterThan(800);
    expect(recorded).toBeLessThan(1_200);
  });

  test("by default a call follows its caller, and new traces are limited to a rate", () => {
    const sampler = samplerFromEnv({});
    expect(sampler.sample(TRACE, parent(true))).toBe(true);
    expect(sampler.sample(TRACE, parent(false))).toBe(false);
    expect(sampler.description).toBe(
      `the caller's decision, else at most ${DEFAULT_TRACES_PER_SECOND} new traces a second`,
    );
    expect(root({})).toBe(true);
  });

  test("MESH_TRACE_SAMPLE takes a share or a rate, and a bad value names its variable", () => {
    expect(root({ MESH_TRACE_SAMPLE: "0" })).toBe(false);
    const every = samplerFromEnv({ MESH_TRACE_SAMPLE: "1" });
    for (let i = 0; i < 1_000; i++) expect(every.sample(TRACE, undefined)).toBe(true);
    expect(samplerFromEnv({ MESH_TRACE_SAMPLE: "25/s" }).description).toMatch(/at most 25 new/);
    expect(root({ MESH_TRACE_SAMPLE: "0/s" })).toBe(false);
    for (const bad of ["2", "fast", "", "10/m"]) {
      expect(() => samplerFromEnv({ MESH_TRACE_SAMPLE: bad })).toThrow(
        `MESH_TRACE_SAMPLE: expected a share of new traces from 0 to 1 (0.1) or a rate (10/s), got "${bad}"`,
      );
    }
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(
      /^OTEL_TRACES_SAMPLER: expected one of always_on, .*got "sometimes"$/,
    );
    expect(() =>
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }),
    ).toThrow('OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got "2"');
  });
});

describe("the rate-limited sampler", () => {
  test("records a burst of its rate, then as many a second as its rate", () => {
    let now = 0;
    const sampler = rateLimitedSampler(10, () => now);
    const take = (n: number) => {
      let yes = 0;
      for (let i = 0; i < n; i++) if (sampler.sample(TRACE, undefined)) yes++;
      return yes;
    };
    expect(take(50)).toBe(10);
    now += 100;
    expect(take(50)).toBe(1);
    // A steady 1 000 calls a second for 5 s: 10 of them a second are recorded.
    let yes = 0;
    for (let i = 0; i < 5_000; i++) {
      now += 1;
      yes += take(1);
    }
    expect(yes).toBe(50);
    // Idle for a minute: the burst is back, and no more than it.
    now += 60_000;
    expect(take(50)).toBe(10);
  });
});
