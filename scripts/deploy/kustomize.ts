import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as YAML gives it. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
};

type Json = Record<string, unknown>;

/**
 * The subset of kustomization.yaml this builder understands; any other field is an error, so
 * a kustomization never silently means more than what CI checked.
 */
const SUPPORTED = new Set([
  "apiVersion",
  "kind",
  "resources",
  "namespace",
  "images",
  "patches",
  "configMapGenerator",
  "generatorOptions",
]);

/** Kinds that are not namespaced (the `namespace:` field leaves them alone). */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
]);

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads every YAML document of a file; empty documents are skipped. */
export function readObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0].message}`);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * Strategic merge, for the cases these manifests use: maps merge key by key, `null` deletes a
 * key, lists whose items all have a `name` merge item by item on it (containers, env,
 * volumes; an item with `$patch: delete` is removed), any other list is replaced.
 */
export function strategicMerge(base: unknown, patch: unknown): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(patch)) {
      if (key === "$patch") continue;
      if (value === null) delete out[key];
      else out[key] = key in out ? strategicMerge(out[key], value) : value;
    }
    return out;
  }
  const named = (list: unknown[]) =>
    list.every((item) => isObject(item) && typeof item.name === "string");
  if (Array.isArray(base) && Array.isArray(patch) && named(base) && named(patch)) {
    const out = [...(base as Json[])];
    for (const item of patch as Json[]) {
      const at = out.findIndex((b) => b.name === item.name);
      if (item.$patch === "delete") {
        if (at >= 0) out.splice(at, 1);
      } else if (at >= 0) out[at] = strategicMerge(out[at], item) as Json;
      else out.push(item);
    }
    return out;
  }
  return patch;
}

/** A JSON 6902 operation of the kinds this builder applies. */
interface JsonPatchOp {
  op: "add" | "replace" | "remove";
  path: string;
  value?: unknown;
}

/** Applies `add`, `replace` and `remove` (RFC 6902) to a copy of `target`. */
export function jsonPatch(target: K8sObject, ops: readonly JsonPatchOp[]): K8sObject {
  const out = structuredClone(target);
  for (const { op, path, value } of ops) {
    const keys = path
      .split("/")
      .slice(1)
      .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop();
    let node: unknown = out;
    for (const key of keys) {
      node = (node as Json)[key];
      if (node === undefined)
        throw new Error(`${op} ${path}: /${key} does not exist in ${describe(target)}`);
    }
    if (last === undefined) throw new Error(`${op} ${path}: cannot patch the whole object`);
    if (Array.isArray(node)) {
      const index = last === "-" ? node.length : Number(last);
      if (op === "add") node.splice(index, 0, value);
      else if (op === "replace") node[index] = value;
      else node.splice(index, 1);
    } else if (isObject(node)) {
      if (op !== "add" && !(last in node))
        throw new Error(`${op} ${path}: no such field in ${describe(target)}`);
      if (op === "remove") delete node[last];
      else node[last] = value;
    } else {
      throw new Error(`${op} ${path}: parent is not an object in ${describe(target)}`);
    }
  }
  return out;
}

const describe = (o: K8sObject): string => `${o.kind}/${o.metadata.name}`;

/** A patch's `target`: kind, name and a `key=value` label selector, all optional. */
interface PatchTarget {
  kind?: string;
  name?: string;
  labelSelector?: string;
}

function matchesTarget(o: K8sObject, target: PatchTarget): boolean {
  if (target.kind && o.kind !== target.kind) return false;
  if (target.name && o.metadata.name !== target.name) return false;
  const labels = (o.metadata.labels ?? {}) as Record<string, string>;
  return (target.labelSelector ?? "")
    .split(",")
    .filter(Boolean)
    .every((pair) => {
      const [key, value] = pair.split("=");
      return labels[key.trim()] === value?.trim();
    });
}

function applyPatch(objects: K8sObject[], patch: Json, dir: string): K8sObject[] {
  const text =
    typeof patch.path === "string"
      ? readFileSync(join(dir, patch.path), "utf8")
      : (patch.patch as string);
  const where = typeof patch.path === "string" ? join(dir, patch.path) : `${dir}: inline patch`;
  const docs = parseAllDocuments(text).map((d) => d.toJSON() as unknown);
  const target = patch.target as PatchTarget | undefined;
  if (docs.length === 1 && Array.isArray(docs[0])) {
    if (!target) throw new Error(`${where}: a JSON 6902 patch needs a target`);
    const matched = objects.filter((o) => matchesTarget(o, target));
    if (matched.length === 0) throw new Error(`${where}: target matches no object`);
    return objects.map((o) => (matched.includes(o) ? jsonPatch(o, docs[0] as JsonPatchOp[]) : o));
  }
  if (docs.length !== 1 || !isObject(docs[0]))
    throw new Error(`${where}: expected one patch per file`);
  const smp = docs[0] as K8sObject;
  const matches = (o: K8sObject) =>
    target
      ? matchesTarget(o, target)
      : o.kind === smp.kind && o.metadata.name === smp.metadata?.name;
  if (!objects.some(matches))
    throw new Error(`${where}: patches no object (${smp.kind}/${smp.metadata?.name})`);
  if (smp.$patch === "delete") return objects.filter((o) => !matches(o));
  return objects.map((o) =>
    matches(o)
      ? (strategicMerge(o, {
          ...smp,
          metadata: { ...smp.metadata, name: o.metadata.name },
        }) as K8sObject)
      : o,
  );
}

/** configMapGenerator with `files` (key = file name, or `key=path`); no hash suffix allowed. */
function generateConfigMaps(objects: K8sObject[], k: Json, dir: string): K8sObject[] {
  const generators = (k.configMapGenerator ?? []) as Json[];
  const options = (k.generatorOptions ?? {}) as Json;
  let out = objects;
  for (const g of generators) {
    const name = g.name as string;
    const noHash =
      ((g.options as Json | undefined)?.disableNameSuffixHash ?? options.disableNameSuffixHash) ===
      true;
    // A hashed name would need every reference rewritten; this builder does not, so it refuses.
    if (!noHash)
      throw new Error(
        `${dir}: configMapGenerator ${name}: set options.disableNameSuffixHash: true`,
      );
    const data: Record<string, string> = {};
    for (const entry of (g.files ?? []) as string[]) {
      const [key, path] = entry.includes("=") ? entry.split("=", 2) : [basename(entry), entry];
      data[key] = readFileSync(join(dir, path), "utf8");
    }
    const behavior = (g.behavior as string | undefined) ?? "create";
    const existing = out.find((o) => o.kind === "ConfigMap" && o.metadata.name === name);
    if (behavior === "create") {
      if (existing)
        throw new Error(
          `${dir}: configMapGenerator ${name} already exists; use behavior: merge or replace`,
        );
      out = [...out, { apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data }];
    } else {
      if (!existing)
        throw new Error(
          `${dir}: configMapGenerator ${name}: behavior ${behavior} needs an existing one`,
        );
      const merged = behavior === "merge" ? { ...(existing.data as Json), ...data } : data;
      out = out.map((o) => (o === existing ? { ...o, data: merged } : o));
    }
  }
  return out;
}

/** `images:` — by image name (tag and digest ignored): newName, newTag, digest. */
function setImages(objects: K8sObject[], images: Json[]): K8sObject[] {
  const rewrite = (image: string): string => {
    const name = image.replace(/@.*$/, "").replace(/:[^:/]*$/, "");
    const rule = images.find((i) => i.name === name);
    if (!rule) return image;
    const newName = (rule.newName as string | undefined) ?? name;
    if (rule.digest) return `${newName}@${rule.digest as string}`;
    return rule.newTag ? `${newName}:${rule.newTag as string}` : newName;
  };
  return objects.map((o) => {
    const spec = ((o.spec as Json | undefined)?.template as Json | undefined)?.spec as
      Json | undefined;
    if (!spec) return o;
    const copy = structuredClone(o);
    const podSpec = ((copy.spec as Json).template as Json).spec as Json;
    for (const list of ["containers", "initContainers"]) {
      for (const c of (podSpec[list] ?? []) as Json[]) c.image = rewrite(c.image as string);
    }
    return copy;
  });
}

/**
 * `kustomize build <dir>` for the subset in {@link SUPPORTED}: resources (files and folders
 * with their own kustomization), configMapGenerator (files, create/merge/replace, no hash
 * suffix), patches (strategic merge as {@link strategicMerge}, or JSON 6902 with a target),
 * images, namespace. Order as kustomize's: resources, generators, patches, images, namespace.
 */
export function build(dir: string): K8sObject[] {
  const file = join(dir, "kustomization.yaml");
  if (!existsSync(file)) throw new Error(`${dir}: no kustomization.yaml`);
  const k = readObjects(file)[0] as unknown as Json;
  for (const key of Object.keys(k)) {
    if (!SUPPORTED.has(key)) throw new Error(`${file}: "${key}" is not supported by this builder`);
  }
  let objects: K8sObject[] = [];
  for (const resource of (k.resources ?? []) as string[]) {
    const path = join(dir, resource);
    objects.push(...(statSync(path).isDirectory() ? build(path) : readObjects(path)));
  }
  objects = generateConfigMaps(objects, k, dir);
  for (const patch of (k.patches ?? []) as Json[]) objects = applyPatch(objects, patch, dir);
  if (k.images) objects = setImages(objects, k.images as Json[]);
  if (typeof k.namespace === "string") {
    const ns = k.namespace;
    objects = objects.map((o) =>
      CLUSTER_SCOPED.has(o.kind) ? o : { ...o, metadata: { ...o.metadata, namespace: ns } },
    );
  }
  const seen = new Set<string>();
  for (const o of objects) {
    const id = `${o.apiVersion}/${o.kind}/${o.metadata.name}`;
    if (seen.has(id)) throw new Error(`${dir}: ${id} is defined twice`);
    seen.add(id);
  }
  return objects;
}
