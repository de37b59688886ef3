import type { Descriptors } from "./descriptors";
import { toConfigDuration } from "./duration";
import type { PolicyConfig, RetryConfig } from "./topology";

/** What the mesh does for calls to one method. */
export interface MethodPolicy {
  /** Deadline given to a call, unless the incoming call's own deadline is sooner. */
  timeoutMs: number;
  /** Retry policy; undefined when the method may not be retried or retries are off. */
  retry: RetryConfig | undefined;
}

/**
 * Resolves a method's policy: `methods["pkg.Service/Method"]`, then `methods["pkg.Service"]`,
 * then `defaults`. Retries apply only to methods whose contract says they may be repeated
 * (`idempotency_level` NO_SIDE_EFFECTS or IDEMPOTENT); for any other method a retry could
 * do the work twice.
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
  const retry = { ...policy.defaults.retry, ...forService?.retry, ...forMethod?.retry };
  const repeatable = descriptors.idempotency(path) !== "unknown";
  return { timeoutMs, retry: repeatable && retry.maxAttempts > 1 ? retry : undefined };
}

/** Checks that every method named in the policy exists; returns what is wrong, if anything. */
export function unknownPolicyMethods(policy: PolicyConfig, descriptors: Descriptors): string[] {
  return Object.keys(policy.methods).filter((key) =>
    key.includes("/") ? !descriptors.method(`/${key}`) : descriptors.methods(key).length === 0,
  );
}

/**
 * The grpc-js service config (gRFC A6 retries and throttling, round-robin balancing) for a
 * channel to one service. grpc-js accepts durations only as "<seconds>s" strings here.
 */
export function serviceConfigFor(
  serviceName: string,
  policy: PolicyConfig,
  descriptors: Descriptors,
): object {
  const methodConfig = descriptors.methods(serviceName).flatMap((method) => {
    const { retry } = resolveMethodPolicy(policy, `/${serviceName}/${method.name}`, descriptors);
    if (!retry) return [];
    return [
      {
        name: [{ service: serviceName, method: method.name }],
        retryPolicy: {
          maxAttempts: retry.maxAttempts,
          initialBackoff: toConfigDuration(retry.initialBackoff),
          maxBackoff: toConfigDuration(retry.maxBackoff),
          backoffMultiplier: retry.backoffMultiplier,
          retryableStatusCodes: retry.retryableCodes,
        },
      },
    ];
  });
  return {
    loadBalancingConfig: [{ round_robin: {} }],
    methodConfig,
    retryThrottling: policy.retryThrottling,
  };
}
