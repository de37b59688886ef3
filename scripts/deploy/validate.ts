import { CRD_SCHEMAS } from "./crd-schemas";
import type { K8sObject } from "./kubectl";

/** A validation failure, naming the object. */
export type Problem = string;

type Json = Record<string, unknown>;
type Model = new (data: unknown) => { validate(): void };

const describe = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;

/** The kubernetes-models (or Istio models) class for an object, or undefined. */
function modelOf(o: K8sObject): Model | undefined {
  const modulePath = o.apiVersion.includes("istio.io")
    ? `@kubernetes-models/istio/${o.apiVersion}/${o.kind}`
    : `kubernetes-models/${o.apiVersion}/${o.kind}`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(modulePath) as Record<string, Model>)[o.kind];
  } catch {
    return undefined;
  }
}

/**
 * Schema check of one object: Kubernetes' own kinds and Istio's against the OpenAPI schemas
 * compiled into kubernetes-models 4 / @kubernetes-models/istio 2; cert-manager, Linkerd and
 * GRPCRoute against the strict schemas of crd-schemas.ts. An unknown kind is a problem.
 */
export function schemaProblems(o: K8sObject): Problem[] {
  const crd = CRD_SCHEMAS[`${o.apiVersion}/${o.kind}`];
  if (crd) {
    const result = crd.safeParse(o);
    return result.success
      ? []
      : result.error.issues.map((i) => `${describe(o)}: ${i.path.join(".")}: ${i.message}`);
  }
  const Model = modelOf(o);
  if (!Model) return [`${describe(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  try {
    new Model(o).validate();
    return [];
  } catch (err) {
    return [`${describe(o)}: ${(err as Error).message}`];
  }
}

const get = (o: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((node, key) => (node as Json | undefined)?.[key], o);
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

/** The pod template's labels, containers and volumes of a workload object. */
function podOf(o: K8sObject) {
  const template = get(o, "spec", "template") as Json;
  return {
    labels: (get(template, "metadata", "labels") ?? {}) as Record<string, string>,
    containers: list(get(template, "spec", "containers")),
    volumes: list(get(template, "spec", "volumes")),
    serviceAccount: get(template, "spec", "serviceAccountName") as string | undefined,
  };
}

const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Secrets that will exist at apply time, though no manifest defines them. */
export interface ReferenceOptions {
  externalSecrets?: string[];
}

/**
 * Cross-references inside one built overlay: Services select pods and target declared ports;
 * probes use declared ports; every ConfigMap, Secret (or cert-manager Certificate writing it),
 * PersistentVolumeClaim and ServiceAccount referenced exists; every object is in the overlay's one
 * Namespace; `<PEER>_TARGET` names a Service
 * and one of its ports; HPAs, PDBs and Istio/Linkerd objects point at what exists.
 */
export function referenceProblems(objects: K8sObject[], options: ReferenceOptions = {}): Problem[] {
  const problems: Problem[] = [];
  const named = (kind: string) =>
    new Set(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name));
  const configMaps = named("ConfigMap");
  const secrets = new Set([
    ...named("Secret"),
    ...objects
      .filter((o) => o.kind === "Certificate")
      .map((o) => get(o, "spec", "secretName") as string),
    ...(options.externalSecrets ?? []),
  ]);
  const claims = named("PersistentVolumeClaim");
  const accounts = named("ServiceAccount");
  const deployments = objects.filter((o) => o.kind === "Deployment");
  const services = objects.filter((o) => o.kind === "Service");
  const pods = deployments.map((d) => ({ d, ...podOf(d) }));
  const portsOf = (containers: Json[]) =>
    containers
      .flatMap((c) => list(c.ports))
      .map((p) => ({ name: p.name as string, number: p.containerPort as number }));
  const declares = (containers: Json[], port: unknown) =>
    portsOf(containers).some((p) => p.name === port || p.number === port);

  for (const { d, labels, containers, volumes, serviceAccount } of pods) {
    const where = describe(d);
    if (!selects(get(d, "spec", "selector", "matchLabels") as Record<string, string>, labels)) {
      problems.push(`${where}: spec.selector does not match its pod template's labels`);
    }
    if (serviceAccount && !accounts.has(serviceAccount))
      problems.push(`${where}: ServiceAccount ${serviceAccount} is not defined`);
    for (const v of volumes) {
      const cm = get(v, "configMap", "name") as string | undefined;
      if (cm && !configMaps.has(cm))
        problems.push(`${where}: volume ${v.name as string}: ConfigMap ${cm} is not defined`);
      const secret = get(v, "secret", "secretName") as string | undefined;
      if (secret && !secrets.has(secret) && get(v, "secret", "optional") !== true) {
        problems.push(`${where}: volume ${v.name as string}: Secret ${secret} is not defined`);
      }
      const claim = get(v, "persistentVolumeClaim", "claimName") as string | undefined;
      if (claim && !claims.has(claim))
        problems.push(
          `${where}: volume ${v.name as string}: PersistentVolumeClaim ${claim} is not defined`,
        );
    }
    for (const c of containers) {
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const p = c[probe] as Json | undefined;
        if (!p) continue;
        const port =
          get(p, "grpc", "port") ?? get(p, "httpGet", "port") ?? get(p, "tcpSocket", "port");
        if (!declares(containers, port))
          problems.push(`${where}: ${probe} port ${String(port)} is not a declared container port`);
      }
      const mounts = list(c.volumeMounts).map((m) => m.name);
      for (const m of mounts)
        if (!volumes.some((v) => v.name === m))
          problems.push(`${where}: volumeMount ${String(m)} has no volume`);
      for (const e of list(c.env)) {
        const secretRef = get(e, "valueFrom", "secretKeyRef", "name") as string | undefined;
        if (secretRef && !secrets.has(secretRef))
          problems.push(`${where}: env ${e.name as string}: Secret ${secretRef} is not defined`);
        const cmRef = get(e, "valueFrom", "configMapKeyRef", "name") as string | undefined;
        if (cmRef && !configMaps.has(cmRef))
          problems.push(`${where}: env ${e.name as string}: ConfigMap ${cmRef} is not defined`);
        const target = /^dns:\/\/\/([^.]+)\.([^.]+)\.svc\.cluster\.local:(\d+)$/.exec(
          typeof e.value === "string" ? e.value : "",
        );
        if (String(e.name).endsWith("_TARGET")) {
          const service = target && services.find((s) => s.metadata.name === target[1]);
          if (!target || !service) {
            problems.push(
              `${where}: env ${e.name as string}=${String(e.value)} names no Service of this overlay`,
            );
          } else if (target[2] !== service.metadata.namespace) {
            problems.push(
              `${where}: env ${e.name as string} names namespace ${target[2]}, the Service is in ${String(service.metadata.namespace)}`,
            );
          } else if (
            !list(get(service, "spec", "ports")).some((p) => p.port === Number(target[3]))
          ) {
            problems.push(
              `${where}: env ${e.name as string}: Service ${target[1]} has no port ${target[3]}`,
            );
          }
        }
      }
    }
  }
  for (const s of services) {
    const selector = (get(s, "spec", "selector") ?? {}) as Record<string, string>;
    const backing = pods.filter((p) => selects(selector, p.labels));
    if (backing.length === 0) {
      problems.push(`${describe(s)}: selector matches no Deployment's pods`);
      continue;
    }
    for (const port of list(get(s, "spec", "ports"))) {
      if (!backing.every((p) => declares(p.containers, port.targetPort ?? port.port))) {
        problems.push(
          `${describe(s)}: port ${String(port.name)} targets ${String(port.targetPort)}, not declared by its pods`,
        );
      }
    }
  }
  const namespace = objects.find((o) => o.kind === "Namespace")?.metadata.name;
  for (const o of objects) {
    if (o.kind !== "Namespace" && o.metadata.namespace !== namespace) {
      problems.push(
        `${describe(o)}: in namespace ${String(o.metadata.namespace)}, not ${String(namespace)}`,
      );
    }
    const matchLabels = get(o, "spec", "selector", "matchLabels") as
      Record<string, string> | undefined;
    if (
      (o.kind === "PodDisruptionBudget" || o.apiVersion.startsWith("security.istio.io")) &&
      matchLabels
    ) {
      if (!pods.some((p) => selects(matchLabels, p.labels)))
        problems.push(`${describe(o)}: selector matches no pods`);
    }
    if (o.kind === "HorizontalPodAutoscaler") {
      const target = get(o, "spec", "scaleTargetRef", "name") as string;
      if (!deployments.some((d) => d.metadata.name === target))
        problems.push(`${describe(o)}: scales Deployment ${target}, which is not defined`);
    }
    if (o.apiVersion.startsWith("networking.istio.io")) {
      const hosts = [...list(get(o, "spec", "hosts")), get(o, "spec", "host")].filter(
        Boolean,
      ) as unknown as string[];
      for (const host of hosts) {
        const [svc, ns] = host.split(".");
        if (!services.some((s) => s.metadata.name === svc && s.metadata.namespace === ns)) {
          problems.push(`${describe(o)}: host ${host} is not a Service of this overlay`);
        }
      }
    }
    if (o.kind === "AuthorizationPolicy" && o.apiVersion.startsWith("security.istio.io")) {
      for (const rule of list(get(o, "spec", "rules"))) {
        for (const from of list(rule.from)) {
          for (const principal of (get(from, "source", "principals") ?? []) as string[]) {
            const account = /\/sa\/([^/]+)$/.exec(principal)?.[1];
            if (!account || !accounts.has(account))
              problems.push(
                `${describe(o)}: principal ${principal} is no ServiceAccount of this overlay`,
              );
          }
        }
      }
    }
    if (o.apiVersion.startsWith("policy.linkerd.io")) {
      const refs = [
        ...list(get(o, "spec", "parentRefs")),
        ...(get(o, "spec", "targetRef") ? [get(o, "spec", "targetRef") as Json] : []),
        ...list(get(o, "spec", "requiredAuthenticationRefs")),
      ];
      for (const ref of refs) {
        if (!objects.some((x) => x.kind === ref.kind && x.metadata.name === ref.name)) {
          problems.push(
            `${describe(o)}: refers to ${String(ref.kind)}/${String(ref.name)}, which is not defined`,
          );
        }
      }
      if (o.kind === "Server") {
        const selector = get(o, "spec", "podSelector", "matchLabels") as Record<string, string>;
        const backing = pods.filter((p) => selects(selector, p.labels));
        if (
          backing.length === 0 ||
          !backing.every((p) => declares(p.containers, get(o, "spec", "port")))
        ) {
          problems.push(
            `${describe(o)}: selects no pod declaring port ${String(get(o, "spec", "port"))}`,
          );
        }
      }
    }
  }
  return problems;
}
