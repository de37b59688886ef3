import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";

/** A Kubernetes object as YAML gives it. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
};

/** The kubectl the checks run: `KUBECTL`, else `kubectl` on the PATH. */
export const KUBECTL = process.env.KUBECTL ?? "kubectl";

/** The major version of kustomize the overlays are written for (`kubectl version --client`). */
const KUSTOMIZE_MAJOR = 5;
// An overlay of ~130 objects prints about 200 KB; execFile's default buffer is 1 MB.
const MAX_OUTPUT_BYTES = 16 * 2 ** 20;

const run = promisify(execFile);

/**
 * Why `kubectl` cannot build the overlays here, or undefined when it can: it must run and
 * embed kustomize v5 (kubectl 1.27 and later).
 */
export function kubectlProblem(kubectl = KUBECTL): string | undefined {
  const version = spawnSync(kubectl, ["version", "--client"], { encoding: "utf8" });
  if (version.error || version.status !== 0) return `${kubectl} does not run`;
  const kustomize = /Kustomize Version: v(\d+)\.[\w.-]+/.exec(version.stdout);
  if (!kustomize || Number(kustomize[1]) < KUSTOMIZE_MAJOR)
    return `${kubectl} has no kustomize v${KUSTOMIZE_MAJOR} (${kustomize?.[0] ?? "none"})`;
  return undefined;
}

/** Parses YAML documents into objects; empty documents are skipped. */
export function parseObjects(text: string, where: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${where}: ${doc.errors[0].message}`);
      return doc.toJSON() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * `kubectl kustomize <dir>`: the objects the real kustomize builds from a kustomization, as
 * `kubectl apply -k` would send them. Rejects with kustomize's own message when it fails.
 */
export async function kustomize(dir: string, kubectl = KUBECTL): Promise<K8sObject[]> {
  try {
    const { stdout } = await run(kubectl, ["kustomize", dir], { maxBuffer: MAX_OUTPUT_BYTES });
    return parseObjects(stdout, `kubectl kustomize ${dir}`);
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr?.trim() || String(err)}`);
  }
}
