import type { Descriptors } from "./descriptors";
import { toConfigDuration } from "./duration";
import type { HedgingConfig, PolicyConfig, RetryConfig } from "./policy-schema";

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

/**
 * The grpc-js service config for a channel to one service: gRFC A6 retries, hedging and
 * throttling per method (grpc-js wants their durations as "<seconds>s" strings), and
 * `loadBalancing`: grpc-js's round robin unless the caller gives another policy's config
 * (the mesh's peers give their own balancer's, with outlier ejection: client/balancer.ts).
 */
export function serviceConfigFor(
  serviceName: string,
  policy: PolicyConfig,
  descriptors: Descriptors,
  loadBalancing: object = { round_robin: {} },
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
  return {
    loadBalancingConfig: [loadBalancing],
    methodConfig,
    retryThrottling: policy.retryThrottling,
  };
}
