import type { Descriptors } from "../../mesh/config";
import type { Topology } from "../../mesh/config";
import { adminPortOf } from "../../mesh/telemetry";

/** The namespace every overlay deploys into; peer targets name it, so it is fixed. */
export const NAMESPACE = "shop";
/** Where the Kustomize tree lives, relative to the project root. */
export const K8S_DIR = "deploy/k8s";
/** The image repository; `images:` in an overlay sets the tag or the registry. */
export const IMAGE = "grpc-shop-mesh";
/** The label every object and selector carries: the service's name. */
export const NAME_LABEL = "app.kubernetes.io/name";
export const PART_OF = { "app.kubernetes.io/part-of": "grpc-shop-mesh" };
/** The plaintext gRPC health listener (MESH_HEALTH_PORT) is the gRPC port plus this. */
export const HEALTH_PORT_OFFSET = 2000;
/** Where Prometheus runs: its namespace and pod label, allowed to scrape the admin ports. */
export const PROMETHEUS = { namespace: "monitoring", name: "prometheus" };

/**
 * The REST gateway, built on another branch: HTTP/JSON on 8080 and a caller of these services.
 * Not in mesh.yaml (it is no gRPC server), so its place in the call graph is stated here.
 */
export const GATEWAY = {
  name: "gateway",
  port: 8080,
  dependsOn: ["users", "inventory", "orders", "notifications"],
};

/** One workload as the cluster sees it. */
export interface Workload {
  name: string;
  /** "grpc" for mesh services; "http" for the gateway. */
  protocol: "grpc" | "http";
  /** The serving port: gRPC, or the gateway's HTTP. */
  port: number;
  adminPort: number;
  /** The plaintext gRPC health port; undefined for the gateway (HTTP /healthz on admin). */
  healthPort?: number;
  /** Fully-qualified gRPC services it serves (`shop.users.v1.UserService`). */
  grpcServices: string[];
  /** The workloads it calls. */
  dependsOn: string[];
  /** The workloads that call it. */
  callers: string[];
}

/** `dns:///` target of a workload's headless Service: every pod's address, for round robin. */
export const headlessTarget = (w: Pick<Workload, "name" | "port">): string =>
  `dns:///${w.name}-headless.${NAMESPACE}.svc.cluster.local:${w.port}`;

/** `dns:///` target of a workload's ClusterIP Service: one virtual address, for a sidecar. */
export const clusterIpTarget = (w: Pick<Workload, "name" | "port">): string =>
  `dns:///${w.name}.${NAMESPACE}.svc.cluster.local:${w.port}`;

/** `<NAME>_TARGET`, the variable the topology reads a peer's target from. */
export const targetVariable = (name: string): string =>
  `${name.toUpperCase().replace(/-/g, "_")}_TARGET`;

/** The mesh's services from the topology, plus the gateway, with callers worked out. */
export function workloads(topology: Topology, descriptors: Descriptors): Workload[] {
  const list: Workload[] = Object.values(topology.services).map((service) => {
    const port = Number(service.listen.slice(service.listen.lastIndexOf(":") + 1));
    const file = descriptors.fileByName(`shop/${service.name}/v1/${service.name}.proto`);
    return {
      name: service.name,
      protocol: "grpc",
      port,
      adminPort: adminPortOf(port),
      healthPort: port + HEALTH_PORT_OFFSET,
      grpcServices: (file?.services ?? []).map((s) => s.typeName),
      dependsOn: service.dependsOn,
      callers: [],
    };
  });
  list.push({
    ...GATEWAY,
    protocol: "http",
    adminPort: adminPortOf(GATEWAY.port),
    grpcServices: [],
    callers: [],
  });
  for (const caller of list) {
    for (const peer of caller.dependsOn)
      list.find((w) => w.name === peer)?.callers.push(caller.name);
  }
  return list;
}

/** The serving port of the workload `name`; throws naming it when there is none. */
export function portOf(all: readonly Workload[], name: string): number {
  const workload = all.find((w) => w.name === name);
  if (!workload) throw new Error(`no workload named "${name}"`);
  return workload.port;
}

/**
 * A strategic-merge patch of T: every field optional, `null` to delete one. Typing patches
 * this way lets TypeScript reject a misspelt field, which the schemas from npm would accept.
 */
export type PatchOf<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends (infer U)[]
    ? PatchOf<U>[]
    : NonNullable<T[K]> extends object
      ? PatchOf<NonNullable<T[K]>> | null
      : T[K] | null;
};
