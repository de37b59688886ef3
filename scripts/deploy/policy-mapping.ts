import type { Descriptors } from "../../mesh/config";
import { matchingFault } from "../../mesh/server";
import { resolveMethodPolicy } from "../../mesh/config";
import type { FaultConfig, Topology } from "../../mesh/config";
import type { Workload } from "./cluster";

/** What a sidecar mesh must do for one method, worked out from our policy file. */
export interface MethodRoute {
  /** `/package.Service/Method`. */
  path: string;
  service: string;
  method: string;
  /** The method's deadline in ms; undefined for a server stream (no deadline). */
  timeoutMs?: number;
  /** Retries after the first attempt; 0 when the contract or the policy forbids them. */
  retries: number;
  /** gRPC status names a retry is made on. */
  retryOn: string[];
  /** The method's injected fault, chosen as the in-process faults choose it. */
  fault?: FaultConfig;
  /**
   * The workloads security.allow lets call it (service and method rules added up), sorted;
   * "*" for any identity of the mesh. Operators are people with grpcurl, not workloads.
   */
  allowedCallers: string[];
}

/** security.allow for one method: the callers of its service's rule and of its own. */
function allowedCallers(topology: Topology, service: string, method: string): string[] {
  const { allow } = topology.security;
  const callers = new Set([...(allow[service] ?? []), ...(allow[`${service}/${method}`] ?? [])]);
  return [...callers].sort();
}

/**
 * Every method of a workload with its timeout, retries and fault, as the in-process client
 * would apply them (resolveMethodPolicy): retries only for NO_SIDE_EFFECTS and IDEMPOTENT
 * methods. A hedged read becomes a plain retry on its non-fatal codes (neither Istio's nor
 * Linkerd's API hedges).
 */
export function methodRoutes(
  w: Workload,
  topology: Topology,
  descriptors: Descriptors,
): MethodRoute[] {
  return w.grpcServices.flatMap((service) =>
    descriptors.methods(service).map((m): MethodRoute => {
      const path = `/${service}/${m.name}`;
      const policy = resolveMethodPolicy(topology.policy, path, descriptors);
      const streaming = m.methodKind !== "unary";
      const retries = policy.hedging
        ? policy.hedging.maxAttempts - 1
        : policy.retry
          ? policy.retry.maxAttempts - 1
          : 0;
      const retryOn = policy.hedging?.nonFatalCodes ?? policy.retry?.retryableCodes ?? [];
      const fault = matchingFault(
        topology.faults.filter((f) => f.service === w.name),
        path,
      );
      return {
        path,
        service,
        method: m.name,
        timeoutMs: streaming ? undefined : policy.timeoutMs,
        retries: streaming ? 0 : retries,
        retryOn: streaming ? [] : retryOn,
        fault,
        allowedCallers: allowedCallers(topology, service, m.name),
      };
    }),
  );
}

/** `250ms`, `2s`: the duration spelling Istio, Linkerd and cert-manager all accept. */
export const durationText = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** gRPC status names as Envoy's and Linkerd's retry conditions spell them. */
const RETRY_CONDITIONS: Record<string, string> = {
  CANCELLED: "cancelled",
  DEADLINE_EXCEEDED: "deadline-exceeded",
  INTERNAL: "internal",
  RESOURCE_EXHAUSTED: "resource-exhausted",
  UNAVAILABLE: "unavailable",
};

/**
 * The retry conditions for `codes`, comma-separated.
 * @throws Error naming a code that no sidecar can retry on.
 */
export function retryConditions(codes: readonly string[], path: string): string {
  return codes
    .map((code) => {
      const condition = RETRY_CONDITIONS[code];
      if (!condition) {
        throw new Error(
          `${path}: retrying on ${code} has no Istio/Linkerd equivalent (they retry on ${Object.keys(RETRY_CONDITIONS).join(", ")})`,
        );
      }
      return condition;
    })
    .join(",");
}
