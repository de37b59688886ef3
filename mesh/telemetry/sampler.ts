import { ROOT_CONTEXT, TraceFlags, type SpanContext } from "@opentelemetry/api";
import { SamplingDecision, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base";

/**
 * Whether a span is recorded, decided before any span is made: an unrecorded call then costs
 * only its ids (tracing.ts, `startSpan`), where OpenTelemetry's SDK would copy its attributes
 * and build a sampling result first.
 */
export interface TraceSampler {
  /** Whether a span of trace `traceId` is recorded; `parent` is its parent's context, if any. */
  sample(traceId: string, parent: SpanContext | undefined): boolean;
  /** What it does, for logs and errors: "parent-based, else at most 10 new traces a second". */
  readonly description: string;
}

/** `OTEL_TRACES_SAMPLER` values (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). */
const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** New traces recorded per second by each process when nothing says otherwise. */
export const DEFAULT_TRACES_PER_SECOND = 10;

const always = (on: boolean): TraceSampler => ({
  sample: () => on,
  description: on ? "every span" : "no span",
});

/** OTel's ratio sampler: the decision is a function of the trace id, the same in every process. */
function ratioSampler(ratio: number): TraceSampler {
  if (ratio >= 1) return always(true);
  if (ratio <= 0) return always(false);
  const otel = new TraceIdRatioBasedSampler(ratio);
  return {
    sample: (traceId) =>
      otel.shouldSample(ROOT_CONTEXT, traceId).decision === SamplingDecision.RECORD_AND_SAMPLED,
    description: `${ratio} of traces`,
  };
}

/**
 * At most `perSecond` decisions yes per second, and bursts of as many (a token bucket, as
 * Jaeger's rate-limiting sampler): a person clicking through the shop has every trace recorded,
 * a load test a few a second, whatever its rate.
 */
export function rateLimitedSampler(perSecond: number, now = () => performance.now()): TraceSampler {
  if (perSecond <= 0) return always(false);
  const capacity = Math.max(1, perSecond);
  let tokens = capacity;
  let last = now();
  return {
    sample: () => {
      const t = now();
      tokens = Math.min(capacity, tokens + ((t - last) * perSecond) / 1_000);
      last = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
    description: `at most ${perSecond} new traces a second`,
  };
}

/** Follows the parent's sampled flag (its `traceparent`'s); a new trace asks `root`. */
function parentBased(root: TraceSampler): TraceSampler {
  return {
    sample: (traceId, parent) =>
      parent ? (parent.traceFlags & TraceFlags.SAMPLED) !== 0 : root.sample(traceId, undefined),
    description: `the caller's decision, else ${root.description}`,
  };
}

const isRatio = (raw: string): boolean => raw.trim() !== "" && Number(raw) >= 0 && Number(raw) <= 1;

/** A ratio of 0 to 1 from the variable `name`, or an error naming it. */
function ratioOf(name: string, raw: string): number {
  if (!isRatio(raw)) throw new Error(`${name}: must be a number from 0 to 1, got "${raw}"`);
  return Number(raw);
}

/** `MESH_TRACE_SAMPLE`: a ratio ("0.1") or a rate of new traces ("10/s"). */
function meshRoot(raw: string): TraceSampler {
  const rate = /^\s*(\d+(?:\.\d+)?)\s*\/\s*s\s*$/.exec(raw);
  if (rate) return rateLimitedSampler(Number(rate[1]));
  if (!isRatio(raw)) {
    throw new Error(
      `MESH_TRACE_SAMPLE: expected a share of new traces from 0 to 1 (0.1) or a rate (10/s), got "${raw}"`,
    );
  }
  return ratioSampler(Number(raw));
}

/**
 * The sampler the environment asks for: OTel's `OTEL_TRACES_SAMPLER` (with its ratio in
 * `OTEL_TRACES_SAMPLER_ARG`, default 1), else the mesh's own, parent-based: a call follows its
 * caller's decision (the sampled flag of its `traceparent`), and a new trace is recorded as
 * `MESH_TRACE_SAMPLE` says, a share ("0.1", "1" for every one) or a rate ("10/s", the
 * default). An unrecorded call still gets a trace id, which its `traceparent`, its logs and its
 * errors carry.
 *
 * @throws Error naming the variable when it is not a known sampler, ratio or rate.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv): TraceSampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (!name)
    return parentBased(meshRoot(env.MESH_TRACE_SAMPLE ?? `${DEFAULT_TRACES_PER_SECOND}/s`));
  const arg = () => ratioOf("OTEL_TRACES_SAMPLER_ARG", env.OTEL_TRACES_SAMPLER_ARG ?? "1");
  switch (name as (typeof SAMPLERS)[number]) {
    case "always_on":
      return always(true);
    case "always_off":
      return always(false);
    case "traceidratio":
      return ratioSampler(arg());
    case "parentbased_always_on":
      return parentBased(always(true));
    case "parentbased_always_off":
      return parentBased(always(false));
    case "parentbased_traceidratio":
      return parentBased(ratioSampler(arg()));
    default:
      throw new Error(
        `OTEL_TRACES_SAMPLER: expected one of ${SAMPLERS.join(", ")}, got "${env.OTEL_TRACES_SAMPLER}"`,
      );
  }
}
