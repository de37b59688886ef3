import type { IDestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1beta1/DestinationRule";
import type { IVirtualService } from "@kubernetes-models/istio/networking.istio.io/v1beta1/VirtualService";
import type { IAuthorizationPolicy } from "@kubernetes-models/istio/security.istio.io/v1beta1/AuthorizationPolicy";
import type { IPeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1beta1/PeerAuthentication";
import type { Descriptors } from "../../mesh/config";
import type { Topology } from "../../mesh/config";
import { NAME_LABEL, NAMESPACE, PART_OF, PROMETHEUS, type Workload } from "./cluster";
import { spiffeId } from "./certificates";
import { durationText, methodRoutes, retryConditions, type MethodRoute } from "./policy-mapping";

export type IstioObject =
  IDestinationRule | IVirtualService | IPeerAuthentication | IAuthorizationPolicy;

const host = (w: Workload): string => `${w.name}.${NAMESPACE}.svc.cluster.local`;
const meta = (name: string) => ({ name, labels: { [NAME_LABEL]: name, ...PART_OF } });
/** Istio's principal for a service account: the SPIFFE id without its scheme. */
const principal = (name: string): string => spiffeId(name).replace(/^spiffe:\/\//, "");

/**
 * policy.outlierDetection and policy.circuitBreaker → DestinationRule.outlierDetection
 * (Istio has no failure-percentage ejection: the breaker's failures-in-a-row threshold becomes
 * consecutive5xxErrors, which Envoy counts for gRPC statuses too); limits.maxConcurrentCalls →
 * connectionPool.http.http2MaxRequests; retryThrottling.maxTokens → connectionPool.http.maxRetries
 * (Envoy's cap on retries outstanding at once, its nearest to a retry budget).
 */
function destinationRule(w: Workload, topology: Topology): IDestinationRule {
  const { outlierDetection: od, circuitBreaker: cb, retryThrottling } = topology.policy;
  return {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "DestinationRule",
    metadata: meta(w.name),
    spec: {
      host: host(w),
      trafficPolicy: {
        loadBalancer: { simple: "ROUND_ROBIN" },
        connectionPool: {
          http: {
            http2MaxRequests: topology.limits.maxConcurrentCalls,
            maxRetries: retryThrottling.maxTokens,
          },
        },
        ...(od || cb
          ? {
              outlierDetection: {
                ...(cb ? { consecutive5xxErrors: cb.failureThreshold } : {}),
                ...(od
                  ? {
                      interval: durationText(od.interval),
                      baseEjectionTime: durationText(od.baseEjectionTime),
                      maxEjectionPercent: od.maxEjectionPercent,
                    }
                  : {}),
              },
            }
          : {}),
      },
    },
  };
}

/** One HTTP route of the VirtualService: a method's timeout, retries and fault. */
function route(w: Workload, m: MethodRoute) {
  const { fault } = m;
  return {
    name: `${m.service.split(".").at(-1)}-${m.method}`.toLowerCase(),
    match: [{ uri: { exact: m.path } }],
    route: [{ destination: { host: host(w), port: { number: w.port } } }],
    // "0s" turns Istio's route timeout off: a server stream has no deadline.
    timeout: m.timeoutMs === undefined ? "0s" : durationText(m.timeoutMs),
    retries:
      m.retries > 0
        ? { attempts: m.retries, retryOn: retryConditions(m.retryOn, m.path) }
        : { attempts: 0 },
    ...(fault
      ? {
          fault: {
            ...(fault.delay
              ? {
                  delay: {
                    percentage: { value: fault.delay.percentage },
                    fixedDelay: durationText(fault.delay.duration),
                  },
                }
              : {}),
            ...(fault.abort
              ? {
                  abort: {
                    percentage: { value: fault.abort.percentage },
                    grpcStatus: fault.abort.code,
                  },
                }
              : {}),
          },
        }
      : {}),
  };
}

/** policy.defaults / policy.methods / faults → one VirtualService route per method. */
function virtualService(w: Workload, routes: MethodRoute[]): IVirtualService {
  return {
    apiVersion: "networking.istio.io/v1beta1",
    kind: "VirtualService",
    metadata: meta(w.name),
    spec: { hosts: [host(w)], http: routes.map((m) => route(w, m)) },
  };
}

/**
 * Per workload: each method may be called by exactly the identities security.allow names
 * for it (one rule per distinct set of callers); Prometheus may scrape its admin port. The
 * gateway's HTTP port is open to every source.
 */
function authorizationPolicy(w: Workload, routes: MethodRoute[]): IAuthorizationPolicy {
  const prometheus = {
    from: [{ source: { namespaces: [PROMETHEUS.namespace] } }],
    to: [{ operation: { ports: [String(w.adminPort)], methods: ["GET"] } }],
  };
  const byCallers = new Map<string, { callers: string[]; paths: string[] }>();
  for (const m of routes) {
    if (m.allowedCallers.length === 0) continue;
    const key = m.allowedCallers.join(",");
    const group = byCallers.get(key) ?? { callers: m.allowedCallers, paths: [] };
    group.paths.push(m.path);
    byCallers.set(key, group);
  }
  const principals = (callers: string[]): string[] =>
    callers.includes("*") ? [`cluster.local/ns/${NAMESPACE}/sa/*`] : callers.map(principal);
  const callers =
    w.protocol === "http"
      ? [{ to: [{ operation: { ports: [String(w.port)] } }] }]
      : [...byCallers.values()].map((group) => ({
          from: [{ source: { principals: principals(group.callers) } }],
          to: [{ operation: { ports: [String(w.port)], paths: group.paths } }],
        }));
  return {
    apiVersion: "security.istio.io/v1beta1",
    kind: "AuthorizationPolicy",
    metadata: meta(w.name),
    spec: {
      selector: { matchLabels: { [NAME_LABEL]: w.name } },
      action: "ALLOW",
      rules: [...callers, prometheus],
    },
  };
}

/**
 * Everything Istio needs to take over mTLS, retries, ejection and faults from the in-process
 * mesh: PeerAuthentication STRICT and an allow-nothing AuthorizationPolicy for the namespace
 * (default deny), then per workload a DestinationRule, a VirtualService (gRPC workloads) and an
 * AuthorizationPolicy.
 */
export function istioResources(
  all: readonly Workload[],
  topology: Topology,
  descriptors: Descriptors,
): IstioObject[] {
  const objects: IstioObject[] = [
    {
      apiVersion: "security.istio.io/v1beta1",
      kind: "PeerAuthentication",
      metadata: meta("default"),
      spec: { mtls: { mode: "STRICT" } },
    },
    {
      apiVersion: "security.istio.io/v1beta1",
      kind: "AuthorizationPolicy",
      metadata: meta("allow-nothing"),
      spec: {},
    },
  ];
  for (const w of all) {
    const routes = methodRoutes(w, topology, descriptors);
    objects.push(destinationRule(w, topology));
    if (routes.length > 0) objects.push(virtualService(w, routes));
    objects.push(authorizationPolicy(w, routes));
  }
  return objects;
}
