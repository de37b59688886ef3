import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { UserServiceService } from "../gen/shop/users/v1/users";
import { createPeer, loadTopology, type Topology } from "../mesh";
import { projectRoot } from "../mesh/config";
import { type MeshIdentity } from "../mesh/identity";
import { memberEnv, memberServing, membersOf, startMember, type MemberEntry } from "./members";
import { prepareOperator } from "./operator";
import { freeInstancePorts, freePorts } from "./ports";
import { createSupervisor } from "./supervisor";

/** The part of a topology document that names callers. */
interface AllowRules {
  security?: { clients?: string[]; allow?: Record<string, string[]> };
}

/**
 * Drops from `doc`'s security.allow the callers that a topology of just `services` does not
 * run (keeping "*" and the clients): a topology must not name a service it does not run.
 */
export function pruneAllowRules(doc: AllowRules, services: readonly string[]): void {
  const callers = new Set([...services, ...(doc.security?.clients ?? []), "*"]);
  const allow = doc.security?.allow ?? {};
  for (const [method, allowed] of Object.entries(allow)) {
    allow[method] = allowed.filter((caller) => callers.has(caller));
  }
}

/** Options for {@link startScratchMesh}. */
export interface ScratchMeshOptions {
  /** Services to run, in start order; each needs what it depends on in the list. */
  services: readonly string[];
  /** Instances per service. Defaults to mesh.yaml's. */
  instances?: Record<string, number>;
  /** Where the services' log lines go. Defaults to nowhere. */
  log?: (line: string) => void;
  /** What each service's members run. Defaults to the service's own program. */
  entry?: (service: string) => MemberEntry;
  /**
   * Whether each member also serves plaintext health on a port of its own (MESH_HEALTH_PORT,
   * as on Kubernetes). Defaults to false.
   */
  healthListeners?: boolean;
}

/** A mesh running from the compiled services in a temp folder, on free ports. */
export interface ScratchMesh {
  topology: Topology;
  /** The operator identity that dials its members (mTLS unless the topology says plaintext). */
  identity: MeshIdentity;
  /** The folder of its topology file and stores; removed by {@link ScratchMesh.stop}. */
  dir: string;
  /** Process ids of its members, by label. */
  pids(): Map<string, number>;
  /** Each member's plaintext health listener, `host:port` by label (with `healthListeners`). */
  healthListeners: Map<string, string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

/**
 * Starts the project's mesh.yaml on free ports with stores in a temp folder, one process per
 * instance (as start:all does), and resolves once every member answers SERVING.
 */
export async function startScratchMesh(options: ScratchMeshOptions): Promise<ScratchMesh> {
  const root = projectRoot();
  const dir = mkdtempSync(join(tmpdir(), "mesh-scratch-"));
  const doc = parseYaml(readFileSync(join(root, "mesh.yaml"), "utf8")) as {
    dataDir: string;
    instancePortStep: number;
    services: Record<string, { port: number; instances?: number; dependsOn?: string[] }>;
  } & AllowRules;
  const ports = await freeInstancePorts(options.services.length, doc.instancePortStep);
  doc.dataDir = dir;
  // Only the services asked for: a topology must not name a service it does not run.
  doc.services = Object.fromEntries(
    options.services.map((name, i) => {
      const service = { ...doc.services[name], port: ports[i] };
      if (options.instances?.[name] !== undefined) service.instances = options.instances[name];
      return [name, service];
    }),
  );
  pruneAllowRules(doc, options.services);
  const file = join(dir, "mesh.yaml");
  writeFileSync(file, stringifyYaml(doc));
  const env = { MESH_TOPOLOGY: file, MESH_DATA_DIR: dir };
  const topology = loadTopology({ ...process.env, ...env });
  // Members as start:all runs them (their young generation included).
  const startEnv = { ...memberEnv(), ...env };
  const { identity } = prepareOperator(topology, options.log ?? (() => undefined));
  const supervisor = createSupervisor({ color: false, write: options.log ?? (() => undefined) });
  const stop = async (): Promise<void> => {
    await supervisor.stopAll();
    rmSync(dir, { recursive: true, force: true });
  };
  const healthListeners = new Map<string, string>();
  try {
    const members = membersOf(topology, options.services);
    const healthPorts = options.healthListeners ? await freePorts(members.length) : [];
    members.forEach((member, i) => {
      const port = healthPorts[i];
      const instanceEnv =
        port === undefined ? startEnv : { ...startEnv, MESH_HEALTH_PORT: String(port) };
      if (port !== undefined) healthListeners.set(member.label, `127.0.0.1:${port}`);
      startMember(supervisor, root, member, instanceEnv, options.entry?.(member.service));
    });
    await Promise.all(members.map((m) => memberServing(supervisor, m, READY_TIMEOUT_MS, identity)));
  } catch (err) {
    await stop();
    throw err;
  }
  const pids = () =>
    new Map([...supervisor.processes].map(([label, child]) => [label, child.pid as number]));
  return { topology, identity, dir, pids, healthListeners, stop };
}

/** Users and products made for a load run. */
export interface LoadData {
  userIds: string[];
  skus: string[];
}

// Enough stock that a load run does not run out: rejections are not what it measures.
const LOAD_STOCK = 1_000_000;

/** Creates `users` users and `products` products with plenty of stock, for load runs. */
export async function seedLoadData(
  topology: Topology,
  runId: string,
  users: number,
  products: number,
  identity: MeshIdentity,
): Promise<LoadData> {
  const policy = topology.policy;
  const usersPeer = createPeer(UserServiceService, {
    target: topology.services.users.target,
    policy,
    ...identity.dialOptions("users"),
  });
  const inventory = createPeer(InventoryServiceService, {
    target: topology.services.inventory.target,
    policy,
    ...identity.dialOptions("inventory"),
  });
  try {
    const userIds: string[] = [];
    for (let i = 0; i < users; i++) {
      const { user } = await usersPeer.createUser({
        email: `load-${runId}-${i}@example.com`,
        displayName: `Load ${i}`,
      });
      userIds.push(user?.userId ?? "");
    }
    const skus: string[] = [];
    for (let i = 0; i < products; i++) {
      const sku = `sku-load-${runId}-${i}`;
      await inventory.createProduct({
        sku,
        name: `Load product ${i}`,
        description: "",
        price: { currencyCode: "USD", units: 10 + i, nanos: 0 },
        initialStock: LOAD_STOCK,
      });
      skus.push(sku);
    }
    return { userIds, skus };
  } finally {
    usersPeer.close();
    inventory.close();
  }
}
