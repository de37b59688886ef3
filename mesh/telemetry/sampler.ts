import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from "@opentelemetry/sdk-trace-base";

/** `OTEL_TRACES_SAMPLER` values (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). */
const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** A ratio of 0 to 1 from the variable `name`, or an error naming it. */
function ratioOf(name: string, raw: string): number {
  const ratio = Number(raw);
  if (raw.trim() === "" || !(ratio >= 0 && ratio <= 1)) {
    throw new Error(`${name}: must be a number from 0 to 1, got "${raw}"`);
  }
  return ratio;
}

// The ratio sampler hashes the trace id even at 1; "always" skips that.
const rootOf = (ratio: number): Sampler =>
  ratio === 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(ratio);

/**
 * The sampler OTel's environment asks for: `OTEL_TRACES_SAMPLER` (and its ratio in
 * `OTEL_TRACES_SAMPLER_ARG`, default 1), else the parent-based ratio of `ratio` or
 * `MESH_TRACE_SAMPLE` (default 1). A parent-based sampler follows the caller's decision (the
 * sampled flag of its `traceparent`): an unsampled call gets a non-recording span whose
 * context still travels, so the calls it makes are left out too.
 *
 * @throws Error naming the variable when it is not a known sampler or ratio.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv, ratio?: number): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (!name) {
    const meshRatio = ratio ?? ratioOf("MESH_TRACE_SAMPLE", env.MESH_TRACE_SAMPLE ?? "1");
    return new ParentBasedSampler({ root: rootOf(meshRatio) });
  }
  const arg = () => ratioOf("OTEL_TRACES_SAMPLER_ARG", env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  switch (name as (typeof SAMPLERS)[number]) {
    case "always_on":
      return new AlwaysOnSampler();
    case "always_off":
      return new AlwaysOffSampler();
    case "traceidratio":
      return rootOf(arg());
    case "parentbased_always_on":
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case "parentbased_always_off":
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case "parentbased_traceidratio":
      return new ParentBasedSampler({ root: rootOf(arg()) });
    default:
      throw new Error(
        `OTEL_TRACES_SAMPLER: expected one of ${SAMPLERS.join(", ")}, got "${env.OTEL_TRACES_SAMPLER}"`,
      );
  }
}
