import type { Descriptors } from "../../mesh/config";
import type { Topology } from "../../mesh/config";
import { NAME_LABEL, PART_OF, PROMETHEUS, type Workload } from "./cluster";
import { durationText, methodRoutes, retryConditions, type MethodRoute } from "./policy-mapping";

/** A Linkerd or Gateway API object as this project writes it (checked in manifest-schemas.ts). */
export interface LinkerdObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
}

/** Service annotations: Linkerd's circuit breaker ("failure accrual"), from ours. */
export type ServiceAnnotations = Record<string, Record<string, string>>;

const POLICY = "policy.linkerd.io";
const meta = (name: string, annotations?: Record<string, string>) => ({
  name,
  labels: { [NAME_LABEL]: name, ...PART_OF },
  ...(annotations ? { annotations } : {}),
});
const ref = (kind: string, name: string) => ({ group: POLICY, kind, name });

/** A Server (policy.linkerd.io/v1beta2): one named port of a workload's pods. */
function server(w: Workload, port: string, proxyProtocol: string): LinkerdObject {
  return {
    apiVersion: `${POLICY}/v1beta2`,
    kind: "Server",
    metadata: meta(`${w.name}-${port}`),
    spec: { podSelector: { matchLabels: { [NAME_LABEL]: w.name } }, port, proxyProtocol },
  };
}

function authorization(name: string, target: object, authentication: object): LinkerdObject {
  return {
    apiVersion: `${POLICY}/v1alpha1`,
    kind: "AuthorizationPolicy",
    metadata: meta(name),
    spec: { targetRef: target, requiredAuthenticationRefs: [authentication] },
  };
}

/**
 * Inbound: with the namespace's default policy `deny`, a workload's gRPC Server accepts only
 * the routes of its own methods, each only from the identities security.allow names for it:
 * one HTTPRoute, MeshTLSAuthentication and AuthorizationPolicy per distinct set of callers
 * (`<workload>-from-<callers>`). Its admin Server accepts
 * Prometheus's identity; its health Server accepts any network, as the kubelet's probes carry
 * no identity and that port serves nothing but health.
 */
function inbound(w: Workload, routes: MethodRoute[], all: readonly Workload[]): LinkerdObject[] {
  const objects: LinkerdObject[] = [];
  const serving = w.protocol === "grpc" ? "grpc" : "http";
  objects.push(server(w, serving, w.protocol === "grpc" ? "gRPC" : "HTTP/1"));
  objects.push(server(w, "admin", "HTTP/1"));
  if (w.healthPort) {
    objects.push(server(w, "health", "gRPC"));
    objects.push(
      authorization(
        `${w.name}-health`,
        ref("Server", `${w.name}-health`),
        ref("NetworkAuthentication", "kubelet"),
      ),
    );
  }
  objects.push(
    authorization(
      `${w.name}-admin`,
      ref("Server", `${w.name}-admin`),
      ref("MeshTLSAuthentication", "prometheus"),
    ),
  );
  if (w.protocol === "http") {
    objects.push(
      authorization(
        `${w.name}-http`,
        ref("Server", `${w.name}-http`),
        ref("NetworkAuthentication", "everyone"),
      ),
    );
  } else {
    const groups = new Map<string, { callers: string[]; paths: string[] }>();
    for (const m of routes) {
      if (m.allowedCallers.length === 0) continue;
      const key = m.allowedCallers.join(",");
      const group = groups.get(key) ?? { callers: m.allowedCallers, paths: [] };
      group.paths.push(m.path);
      groups.set(key, group);
    }
    for (const { callers, paths } of groups.values()) {
      // "*" is any identity of the mesh: every workload's service account.
      const accounts = callers.includes("*") ? all.map((a) => a.name) : callers;
      const name = `${w.name}-from-${callers.includes("*") ? "mesh" : callers.join("-")}`;
      objects.push({
        apiVersion: `${POLICY}/v1beta3`,
        kind: "HTTPRoute",
        metadata: meta(name),
        spec: {
          parentRefs: [ref("Server", `${w.name}-grpc`)],
          rules: [
            { matches: paths.map((value) => ({ path: { type: "Exact", value }, method: "POST" })) },
          ],
        },
      });
      objects.push({
        apiVersion: `${POLICY}/v1alpha1`,
        kind: "MeshTLSAuthentication",
        metadata: meta(name),
        spec: {
          identityRefs: accounts.map((account) => ({ kind: "ServiceAccount", name: account })),
        },
      });
      objects.push(authorization(name, ref("HTTPRoute", name), ref("MeshTLSAuthentication", name)));
    }
  }
  return objects;
}

/** Authentications shared by every workload: Prometheus's identity, the kubelet, anyone. */
function sharedAuthentications(): LinkerdObject[] {
  const anywhere = [{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }];
  return [
    {
      apiVersion: `${POLICY}/v1alpha1`,
      kind: "MeshTLSAuthentication",
      metadata: meta("prometheus"),
      spec: {
        identityRefs: [
          { kind: "ServiceAccount", name: PROMETHEUS.name, namespace: PROMETHEUS.namespace },
        ],
      },
    },
    {
      apiVersion: `${POLICY}/v1alpha1`,
      kind: "NetworkAuthentication",
      metadata: meta("kubelet"),
      spec: { networks: anywhere },
    },
    {
      apiVersion: `${POLICY}/v1alpha1`,
      kind: "NetworkAuthentication",
      metadata: meta("everyone"),
      spec: { networks: anywhere },
    },
  ];
}

/**
 * Outbound: one GRPCRoute per method on the workload's Service, carrying the method's timeout
 * and retries as Linkerd (2.16+) reads them, in annotations. A server stream gets no timeout.
 */
function outbound(w: Workload, topology: Topology, descriptors: Descriptors): LinkerdObject[] {
  return methodRoutes(w, topology, descriptors).map((m) => {
    const annotations: Record<string, string> = {};
    if (m.timeoutMs !== undefined)
      annotations["timeout.linkerd.io/request"] = durationText(m.timeoutMs);
    if (m.retries > 0) {
      annotations["retry.linkerd.io/grpc"] = retryConditions(m.retryOn, m.path);
      annotations["retry.linkerd.io/limit"] = String(m.retries);
    }
    return {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: meta(`${w.name}-${m.method.toLowerCase()}`, annotations),
      spec: {
        parentRefs: [{ group: "core", kind: "Service", name: w.name, port: w.port }],
        rules: [
          {
            matches: [{ method: { type: "Exact", service: m.service, method: m.method } }],
            backendRefs: [{ name: w.name, port: w.port }],
          },
        ],
      },
    };
  });
}

/**
 * policy.circuitBreaker and policy.outlierDetection → Linkerd's consecutive-failure accrual,
 * set by annotations on each ClusterIP Service: failures in a row → max-failures, openFor →
 * min-penalty, maxEjectionTime → max-penalty.
 */
export function failureAccrual(all: readonly Workload[], topology: Topology): ServiceAnnotations {
  const cb = topology.policy.circuitBreaker;
  if (!cb) return {};
  const prefix = "balancer.linkerd.io/failure-accrual";
  const maxPenalty = topology.policy.outlierDetection?.maxEjectionTime;
  return Object.fromEntries(
    all
      .filter((w) => w.protocol === "grpc")
      .map((w) => [
        w.name,
        {
          [prefix]: "consecutive",
          [`${prefix}-consecutive-max-failures`]: String(cb.failureThreshold),
          [`${prefix}-consecutive-min-penalty`]: durationText(cb.openFor),
          ...(maxPenalty
            ? { [`${prefix}-consecutive-max-penalty`]: durationText(maxPenalty) }
            : {}),
        },
      ]),
  );
}

/** Every Linkerd policy and route object for the mesh, in the namespace {@link NAMESPACE}. */
export function linkerdResources(
  all: readonly Workload[],
  topology: Topology,
  descriptors: Descriptors,
): LinkerdObject[] {
  return [
    ...sharedAuthentications(),
    ...all.flatMap((w) => {
      const routes = methodRoutes(w, topology, descriptors);
      return [...inbound(w, routes, all), ...outbound(w, topology, descriptors)];
    }),
  ];
}
