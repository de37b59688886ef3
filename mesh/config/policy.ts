import { isDeepStrictEqual } from "node:util";
import { experimental } from "@grpc/grpc-js";
import type { Descriptors } from "./descriptors";
import { toConfigDuration } from "./duration";
import type {
  HedgingConfig,
  OutlierDetectionConfig,
  PolicyConfig,
  RetryConfig,
} from "./policy-schema";

/** What the mesh does for calls to one method. */
export interface MethodPolicy {
  /** Deadline given to a call, unless the incoming call's own deadline is sooner. */
  timeoutMs: number;
  /** Retry policy; undefined when the method may not be retried, retries are off, or it is hedged. */
  retry: RetryConfig | undefined;
  /** Hedging policy; set only for NO_SIDE_EFFECTS methods, and then it replaces `retry`. */
  hedging: HedgingConfig | undefined;
}

/**
 * Resolves a method's policy: `methods["pkg.Service/Method"]`, then `methods["pkg.Service"]`,
 * then `defaults`. Retries apply only to methods whose contract says they may be repeated
 * (`idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT); for any other method a retry could
 * do the work twice. Hedging sends copies of a call that is still running, so it applies only
 * to NO_SIDE_EFFECTS methods; there it replaces retries, since grpc-js refuses a method config
 * with both (gRFC A6: "retryPolicy and hedgingPolicy cannot both be specified").
 */
export function resolveMethodPolicy(
  policy: PolicyConfig,
  path: string,
  descriptors: Descriptors,
): MethodPolicy {
  const [service, method] = path.slice(1).split("/");
  const forMethod = policy.methods[`${service}/${method}`];
  const forService = policy.methods[service];
  const timeoutMs = forMethod?.timeout ?? forService?.timeout ?? policy.defaults.timeout;
  const idempotency = descriptors.idempotency(path);
  const hedging = forMethod?.hedging ?? forService?.hedging ?? policy.defaults.hedging;
  if (hedging && idempotency === "no-side-effects") {
    return { timeoutMs, retry: undefined, hedging };
  }
  const retry = { ...policy.defaults.retry, ...forService?.retry, ...forMethod?.retry };
  const repeatable = idempotency !== "unknown" && retry.maxAttempts > 1;
  return { timeoutMs, retry: repeatable ? retry : undefined, hedging: undefined };
}

/** Checks that every method named in the policy exists; returns what is wrong, if anything. */
export function unknownPolicyMethods(policy: PolicyConfig, descriptors: Descriptors): string[] {
  return Object.keys(policy.methods).filter((key) =>
    key.includes("/") ? !descriptors.method(`/${key}`) : descriptors.methods(key).length === 0,
  );
}

const NANOS_PER_MS = 1_000_000;

/** Milliseconds as the `{ seconds, nanos }` object grpc-js wants in LB configs (not "1s"). */
function durationObject(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1_000);
  return { seconds, nanos: Math.round((ms - seconds * 1_000) * NANOS_PER_MS) };
}

/** gRFC A50 outlier detection over round robin, with failure-percentage ejection only. */
function outlierDetectionConfig(od: OutlierDetectionConfig): object {
  const fp = od.failurePercentage;
  return {
    outlier_detection: {
      interval: durationObject(od.interval),
      base_ejection_time: durationObject(od.baseEjectionTime),
      max_ejection_time: durationObject(od.maxEjectionTime),
      max_ejection_percent: od.maxEjectionPercent,
      failure_percentage_ejection: {
        threshold: fp.threshold,
        enforcement_percentage: fp.enforcementPercentage,
        minimum_hosts: fp.minimumHosts,
        request_volume: fp.requestVolume,
      },
      child_policy: [{ round_robin: {} }],
    },
  };
}

/**
 * Parses an LB config with grpc-js's own parser and checks that grpc-js reads back what was
 * meant. A config grpc-js cannot parse is not refused by the channel: selectLbConfigFromList
 * logs it at DEBUG and the channel silently uses pick_first, with no balancing and no
 * ejection. So it is refused here, loudly, when the peer is built.
 */
function checkedLoadBalancingConfig(config: object, field: string): object {
  const fallback = "grpc-js would silently fall back to pick_first (no balancing, no ejection)";
  let parsed: object;
  try {
    parsed = experimental.parseLoadBalancingConfig(config as never).toJsonObject();
  } catch (err) {
    throw new Error(
      `${field}: grpc-js refused the load-balancing config built from it: ${(err as Error).message}; ${fallback}`,
    );
  }
  // grpc-js fills in defaults and truncates durations to whole milliseconds; what it read back
  // must be what was written, or the channel would eject on different terms than the policy's.
  const normalize = (value: object): unknown => JSON.parse(JSON.stringify(value));
  if (!isDeepStrictEqual(normalize(parsed), normalize(config))) {
    throw new Error(
      `${field}: grpc-js reads the load-balancing config differently from the policy ` +
        `(it keeps durations in whole milliseconds, under 24.8 days): wrote ${JSON.stringify(config)}, ` +
        `grpc-js read ${JSON.stringify(parsed)}`,
    );
  }
  return config;
}

/**
 * The grpc-js service config for a channel to one service: gRFC A6 retries, hedging and
 * throttling per method, and round-robin balancing, behind gRFC A50 outlier detection when the
 * policy has it. grpc-js wants method-config durations as "<seconds>s" strings, but LB-config
 * durations as `{ seconds, nanos }` objects.
 *
 * @throws Error when grpc-js would not read the LB config as written (see above).
 */
export function serviceConfigFor(
  serviceName: string,
  policy: PolicyConfig,
  descriptors: Descriptors,
): object {
  const methodConfig = descriptors.methods(serviceName).flatMap((method): object[] => {
    const path = `/${serviceName}/${method.name}`;
    const { retry, hedging } = resolveMethodPolicy(policy, path, descriptors);
    const name = [{ service: serviceName, method: method.name }];
    if (hedging) {
      const hedgingPolicy = {
        maxAttempts: hedging.maxAttempts,
        hedgingDelay: toConfigDuration(hedging.delay),
        nonFatalStatusCodes: hedging.nonFatalCodes,
      };
      return [{ name, hedgingPolicy }];
    }
    if (!retry) return [];
    const retryPolicy = {
      maxAttempts: retry.maxAttempts,
      initialBackoff: toConfigDuration(retry.initialBackoff),
      maxBackoff: toConfigDuration(retry.maxBackoff),
      backoffMultiplier: retry.backoffMultiplier,
      retryableStatusCodes: retry.retryableCodes,
    };
    return [{ name, retryPolicy }];
  });
  const loadBalancing = policy.outlierDetection
    ? checkedLoadBalancingConfig(
        outlierDetectionConfig(policy.outlierDetection),
        "policy.outlierDetection",
      )
    : { round_robin: {} };
  return {
    loadBalancingConfig: [loadBalancing],
    methodConfig,
    retryThrottling: policy.retryThrottling,
  };
}
