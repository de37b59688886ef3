import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import {
  clusterIpTarget,
  NAME_LABEL,
  PART_OF,
  portOf,
  PROMETHEUS,
  targetVariable,
  type PatchOf,
  type Workload,
} from "./cluster";
import type { SidecarMesh } from "./handoff-topology";

/** Where each control plane runs and the ports its proxies must reach and expose. */
const CONTROL_PLANES: Record<
  SidecarMesh,
  { namespace: string; egress: number[]; metrics: number }
> = {
  // istiod: xDS and certificate signing on 15012; the proxy's merged metrics on 15020.
  istio: { namespace: "istio-system", egress: [15012], metrics: 15020 },
  // linkerd identity 8080, destination 8086, policy 8090; the proxy's admin/metrics on 4191.
  linkerd: { namespace: "linkerd", egress: [8080, 8086, 8090], metrics: 4191 },
};

/** The namespace labels or annotations that turn on injection (and Linkerd's default deny). */
export const NAMESPACE_METADATA: Record<
  SidecarMesh,
  { labels?: Record<string, string>; annotations?: Record<string, string> }
> = {
  istio: { labels: { "istio-injection": "enabled" } },
  linkerd: {
    annotations: {
      "linkerd.io/inject": "enabled",
      "config.linkerd.io/default-inbound-policy": "deny",
    },
  },
};

/**
 * A workload behind a sidecar: MESH_PLAINTEXT=1 (the sidecar does mTLS) and peers dialled by
 * their ClusterIP Service, so that the sidecar balances each request over the pods; dialling
 * the headless name would pin the in-process balancer to addresses the sidecar then re-routes.
 */
export function sidecarPatch(w: Workload, all: readonly Workload[]): PatchOf<IDeployment> {
  const env = [
    { name: "MESH_PLAINTEXT", value: "1" },
    ...w.dependsOn.map((peer) => ({
      name: targetVariable(peer),
      value: clusterIpTarget({ name: peer, port: portOf(all, peer) }),
    })),
  ];
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: w.name },
    spec: { template: { spec: { containers: [{ name: w.name, env }] } } },
  };
}

/** Lets every pod's proxy reach its control plane, and Prometheus scrape the proxy. */
export function controlPlanePolicy(mesh: SidecarMesh): INetworkPolicy {
  const plane = CONTROL_PLANES[mesh];
  const namespace = (name: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } },
  });
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: `allow-${mesh}`, labels: { [NAME_LABEL]: `allow-${mesh}`, ...PART_OF } },
    spec: {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      egress: [
        {
          to: [namespace(plane.namespace)],
          ports: plane.egress.map((port) => ({ protocol: "TCP", port })),
        },
      ],
      ingress: [
        {
          from: [namespace(PROMETHEUS.namespace), namespace(plane.namespace)],
          ports: [{ protocol: "TCP", port: plane.metrics }],
        },
      ],
    },
  };
}
