import { SamplingDecision } from "@opentelemetry/sdk-trace-base";
import { ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { samplerFromEnv } from "./sampler";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const decide = (env: NodeJS.ProcessEnv) =>
  samplerFromEnv(env).shouldSample(ROOT_CONTEXT, TRACE, "span", SpanKind.SERVER, {}, []).decision;

describe("the sampler OTel's environment asks for", () => {
  test("OTEL_TRACES_SAMPLER chooses it, with OTEL_TRACES_SAMPLER_ARG as its ratio", () => {
    expect(decide({ OTEL_TRACES_SAMPLER: "always_off" })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({ OTEL_TRACES_SAMPLER: "parentbased_always_on" })).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
    expect(
      decide({ OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0" }),
    ).toBe(SamplingDecision.NOT_RECORD);
    expect(
      samplerFromEnv({
        OTEL_TRACES_SAMPLER: "traceidratio",
        OTEL_TRACES_SAMPLER_ARG: "0.25",
      }).toString(),
    ).toMatch(/0\.25/);
  });

  test("without it MESH_TRACE_SAMPLE still works, and a bad value names its variable", () => {
    expect(decide({ MESH_TRACE_SAMPLE: "0" })).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({})).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(() => samplerFromEnv({ OTEL_TRACES_SAMPLER: "sometimes" })).toThrow(
      /^OTEL_TRACES_SAMPLER: expected one of always_on, .*got "sometimes"$/,
    );
    expect(() =>
      samplerFromEnv({ OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "2" }),
    ).toThrow('OTEL_TRACES_SAMPLER_ARG: must be a number from 0 to 1, got "2"');
  });
});
