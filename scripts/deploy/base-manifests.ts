import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { INetworkPolicyPort } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { INamespace } from "kubernetes-models/v1/Namespace";
import type { IPersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import type { IProbe } from "kubernetes-models/v1/Probe";
import type { IService } from "kubernetes-models/v1/Service";
import type { IServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { Topology } from "../../mesh/config";
import {
  headlessTarget,
  IMAGE,
  NAME_LABEL,
  NAMESPACE,
  PART_OF,
  portOf,
  PROMETHEUS,
  targetVariable,
  type Workload,
} from "./cluster";

/** Where the pod mounts things; the image's root filesystem stays read-only. */
export const MOUNTS = {
  data: "/data",
  topology: "/etc/mesh/topology",
  certs: "/etc/mesh/certs",
  tmp: "/tmp",
};
/** The ConfigMap generated from mesh.yaml, and the topology file inside it. */
export const TOPOLOGY_CONFIGMAP = "mesh-topology";
/** The uid and gid the Dockerfile's USER names. */
const APP_UID = 10001;
/** Secret holding a workload's certificate (tls.crt, tls.key, ca.crt), from cert-manager. */
export const tlsSecret = (name: string): string => `${name}-tls`;
/** A SQLite service's volume claim. */
export const dataClaim = (name: string): string => `${name}-data`;
/** How long a client connection lives before the server asks the client to reconnect. */
const MAX_CONNECTION_AGE = "60s";
/** Seconds the kubelet waits after SIGTERM before SIGKILL, beyond our own drain and grace. */
const TERMINATION_SLACK_S = 5;
/** Start-up (migrations included) may take this long before liveness applies. */
const STARTUP_BUDGET_S = 120;
const STARTUP_PERIOD_S = 2;

const labels = (name: string) => ({ [NAME_LABEL]: name, ...PART_OF });
const meta = (name: string) => ({ name, labels: labels(name) });

/** The probe for a workload: gRPC health on the plaintext health port, or HTTP /healthz. */
function probe(w: Workload, periodSeconds: number, failureThreshold: number): IProbe {
  const action = w.healthPort
    ? { grpc: { port: w.healthPort } }
    : { httpGet: { path: "/healthz", port: "admin" } };
  return { ...action, periodSeconds, failureThreshold, timeoutSeconds: 2 };
}

/** The environment a workload's container starts with. */
function environment(w: Workload, all: readonly Workload[]): IEnvVar[] {
  const env: IEnvVar[] = [
    { name: "MESH_TOPOLOGY", value: `${MOUNTS.topology}/mesh.yaml` },
    { name: "MESH_HOST", value: "0.0.0.0" },
    { name: "MESH_DATA_DIR", value: MOUNTS.data },
    { name: "MESH_CERTS_DIR", value: MOUNTS.certs },
  ];
  if (w.healthPort) env.push({ name: "MESH_HEALTH_PORT", value: String(w.healthPort) });
  // Clients re-resolve the headless name when their connection ends: pods an autoscaler
  // adds get traffic within this long (connection-age.ts).
  if (w.protocol === "grpc")
    env.push({ name: "MESH_MAX_CONNECTION_AGE", value: MAX_CONNECTION_AGE });
  for (const peer of w.dependsOn) {
    env.push({
      name: targetVariable(peer),
      value: headlessTarget({ name: peer, port: portOf(all, peer) }),
    });
  }
  return env;
}

function container(w: Workload, all: readonly Workload[]): IContainer {
  const ports = [
    { name: w.protocol === "grpc" ? "grpc" : "http", containerPort: w.port },
    { name: "admin", containerPort: w.adminPort },
    ...(w.healthPort ? [{ name: "health", containerPort: w.healthPort }] : []),
  ];
  return {
    name: w.name,
    image: `${IMAGE}/${w.name}`,
    env: environment(w, all),
    ports,
    startupProbe: probe(w, STARTUP_PERIOD_S, STARTUP_BUDGET_S / STARTUP_PERIOD_S),
    readinessProbe: probe(w, 5, 2),
    livenessProbe: probe(w, 10, 3),
    resources: {
      requests: { cpu: "250m", memory: "128Mi" },
      limits: { cpu: "1", memory: "256Mi" },
    },
    securityContext: {
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [
      ...(w.protocol === "grpc" ? [{ name: "data", mountPath: MOUNTS.data }] : []),
      { name: "tmp", mountPath: MOUNTS.tmp },
      { name: "topology", mountPath: MOUNTS.topology, readOnly: true },
      { name: "certs", mountPath: MOUNTS.certs, readOnly: true },
    ],
  };
}

/**
 * A workload's Deployment: one replica and Recreate for a SQLite store (one writer on a
 * ReadWriteOnce volume); the production overlay switches to PostgreSQL, more replicas and
 * RollingUpdate.
 */
export function deployment(w: Workload, all: readonly Workload[], topology: Topology): IDeployment {
  const grace = Math.ceil((topology.limits.drainDelay + topology.limits.shutdownGrace) / 1000);
  const stateful = w.protocol === "grpc";
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(w.name),
    spec: {
      replicas: 1,
      strategy: stateful ? { type: "Recreate" } : { type: "RollingUpdate" },
      selector: { matchLabels: { [NAME_LABEL]: w.name } },
      template: {
        metadata: {
          labels: labels(w.name),
          annotations: {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": String(w.adminPort),
            "prometheus.io/path": "/metrics",
          },
        },
        spec: {
          serviceAccountName: w.name,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: grace + TERMINATION_SLACK_S,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: APP_UID,
            runAsGroup: APP_UID,
            fsGroup: APP_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          containers: [container(w, all)],
          volumes: [
            ...(stateful
              ? [{ name: "data", persistentVolumeClaim: { claimName: dataClaim(w.name) } }]
              : []),
            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
            { name: "topology", configMap: { name: TOPOLOGY_CONFIGMAP } },
            // Optional, so that the mesh-istio and mesh-linkerd overlays (plaintext) start
            // without it; with mTLS on, the service refuses to start when the files are missing.
            { name: "certs", secret: { secretName: tlsSecret(w.name), optional: true } },
          ],
        },
      },
    },
  };
}

/**
 * Two Services per workload: `<name>-headless` (every ready pod's address, for the mesh's own
 * round robin over `dns:///`) and `<name>` (one virtual IP, for port-forward and sidecars).
 */
export function services(w: Workload): IService[] {
  const ports = [
    {
      name: w.protocol === "grpc" ? "grpc" : "http",
      port: w.port,
      targetPort: w.port,
      appProtocol: w.protocol === "grpc" ? "grpc" : "http",
    },
    { name: "admin", port: w.adminPort, targetPort: w.adminPort, appProtocol: "http" },
  ];
  const selector = { [NAME_LABEL]: w.name };
  return [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(`${w.name}-headless`),
      spec: { clusterIP: "None", selector, ports },
    },
    { apiVersion: "v1", kind: "Service", metadata: meta(w.name), spec: { selector, ports } },
  ];
}

/** Never more than one pod of a workload voluntarily down at once (drains, upgrades). */
export function disruptionBudget(w: Workload): IPodDisruptionBudget {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(w.name),
    spec: { maxUnavailable: 1, selector: { matchLabels: { [NAME_LABEL]: w.name } } },
  };
}

/** The SQLite file's volume: one node at a time can write it (ReadWriteOnce). */
export function dataVolumeClaim(w: Workload): IPersistentVolumeClaim {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: meta(dataClaim(w.name)),
    spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
  };
}

/** The workload's identity: mTLS certificates and mesh policies name this account. */
export function serviceAccount(w: Workload): IServiceAccount {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(w.name),
    automountServiceAccountToken: false,
  };
}

export function namespace(): INamespace {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: NAMESPACE, labels: PART_OF } };
}

const selectorOf = (name: string) => ({ matchLabels: { [NAME_LABEL]: name } });
const tcp = (port: number): INetworkPolicyPort => ({ protocol: "TCP", port });

/**
 * Default deny, DNS for everyone, then exactly the call graph: each workload accepts its
 * callers on its serving port and Prometheus on its admin port, and may reach the serving
 * ports of what it depends on. The gateway's HTTP port is open to all: it is the way in.
 */
export function networkPolicies(all: readonly Workload[]): INetworkPolicy[] {
  const policies: INetworkPolicy[] = [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("default-deny"),
      spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("allow-dns"),
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              {
                namespaceSelector: {
                  matchLabels: { "kubernetes.io/metadata.name": "kube-system" },
                },
                podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
              },
            ],
            ports: [
              { protocol: "UDP", port: 53 },
              { protocol: "TCP", port: 53 },
            ],
          },
        ],
      },
    },
  ];
  for (const w of all) {
    const servingFrom =
      w.protocol === "http" ? {} : { from: w.callers.map((c) => ({ podSelector: selectorOf(c) })) };
    const egress = w.dependsOn.map((peer) => ({
      to: [{ podSelector: selectorOf(peer) }],
      ports: [tcp(portOf(all, peer))],
    }));
    policies.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta(w.name),
      spec: {
        podSelector: selectorOf(w.name),
        policyTypes: ["Ingress", "Egress"],
        ingress: [
          ...(w.protocol === "http" || w.callers.length > 0
            ? [{ ...servingFrom, ports: [tcp(w.port)] }]
            : []),
          {
            from: [
              {
                namespaceSelector: {
                  matchLabels: { "kubernetes.io/metadata.name": PROMETHEUS.namespace },
                },
                podSelector: { matchLabels: { [NAME_LABEL]: PROMETHEUS.name } },
              },
            ],
            ports: [tcp(w.adminPort)],
          },
        ],
        egress,
      },
    });
  }
  return policies;
}
