import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IHorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { dataClaim } from "./base-manifests";
import { NAME_LABEL, PART_OF, type PatchOf, type Workload } from "./cluster";

/** Where the production data stores are, reached by DNS name; NetworkPolicies allow them. */
export const DATA_STORES = {
  postgres: { namespace: "database", port: 5432 },
  nats: {
    namespace: "nats",
    port: 4222,
    url: "nats://nats.nats.svc.cluster.local:4222",
  },
};
/** Secret holding a service's PostgreSQL URL under the key `url`; created out of band. */
export const databaseSecret = (name: string): string => `${name}-database`;
const MIN_REPLICAS = 2;
const MAX_REPLICAS = 6;
/** Scale out when pods average this share of their CPU request. */
const CPU_TARGET_PERCENT = 70;

const meta = (name: string) => ({ name, labels: { [NAME_LABEL]: name, ...PART_OF } });

/** An autoscaler per workload, on CPU, between 2 and 6 pods. */
function autoscaler(w: Workload): IHorizontalPodAutoscaler {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: meta(w.name),
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: w.name },
      minReplicas: MIN_REPLICAS,
      maxReplicas: MAX_REPLICAS,
      metrics: [
        {
          type: "Resource",
          resource: {
            name: "cpu",
            target: { type: "Utilization", averageUtilization: CPU_TARGET_PERCENT },
          },
        },
      ],
    },
  };
}

/** Egress from the services with a store to PostgreSQL, and from the event services to NATS. */
function dataStorePolicy(all: readonly Workload[]): INetworkPolicy {
  const namespaceOf = (name: string) => ({
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } },
  });
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta("allow-data-stores"),
    spec: {
      podSelector: {
        matchExpressions: [
          {
            key: NAME_LABEL,
            operator: "In",
            values: all.filter((w) => w.protocol === "grpc").map((w) => w.name),
          },
        ],
      },
      policyTypes: ["Egress"],
      egress: [
        {
          to: [namespaceOf(DATA_STORES.postgres.namespace)],
          ports: [{ protocol: "TCP", port: DATA_STORES.postgres.port }],
        },
        {
          to: [namespaceOf(DATA_STORES.nats.namespace)],
          ports: [{ protocol: "TCP", port: DATA_STORES.nats.port }],
        },
      ],
    },
  };
}

/** Resources the production overlay adds: autoscalers and the data stores' NetworkPolicy. */
export function productionResources(all: readonly Workload[]): object[] {
  return [...all.map(autoscaler), dataStorePolicy(all)];
}

/**
 * Strategic-merge patches: every store on PostgreSQL (DATABASE_URL from its Secret), so the
 * SQLite volume becomes scratch space and its claim is deleted; events on NATS; replicas and
 * RollingUpdate with a surge, so a rollout never drops below the current count.
 */
export function productionPatches(all: readonly Workload[]): object[] {
  return all.flatMap((w) => {
    const stateful = w.protocol === "grpc";
    const env = [
      ...(stateful
        ? [
            {
              name: "DATABASE_URL",
              valueFrom: { secretKeyRef: { name: databaseSecret(w.name), key: "url" } },
            },
          ]
        : []),
      // The event transport is the whole mesh's (mesh.yaml's `events`): every producer
      // (orders, payments) publishes to NATS and every consumer reads from it.
      ...(stateful
        ? [
            { name: "EVENTS_TRANSPORT", value: "nats" },
            { name: "NATS_URL", value: DATA_STORES.nats.url },
          ]
        : []),
    ];
    const patch: PatchOf<IDeployment> = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: w.name },
      spec: {
        replicas: MIN_REPLICAS,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          spec: {
            containers: [{ name: w.name, ...(env.length > 0 ? { env } : {}) }],
            ...(stateful
              ? {
                  volumes: [
                    { name: "data", persistentVolumeClaim: null, emptyDir: { sizeLimit: "256Mi" } },
                  ],
                }
              : {}),
          },
        },
      },
    };
    const deleteClaim = {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: { name: dataClaim(w.name) },
      $patch: "delete",
    };
    return stateful ? [patch, deleteClaim] : [patch];
  });
}
