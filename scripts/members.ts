import type { ChildProcess } from "node:child_process";
import { get as httpGet } from "node:http";
import { join, resolve } from "node:path";
import { loadTopology, projectRoot, servicesInStartOrder, type Topology } from "../mesh/config";
import { type MeshIdentity } from "../mesh/identity";
import { adminPortOf, memberName } from "../mesh/telemetry";
import { waitForServing } from "./health-wait";
import type { Supervisor } from "./supervisor";

/**
 * The services of the project's mesh.yaml, each after those it depends on; with `roots`, only
 * those and what they depend on (`["orders"]`: what placing an order needs).
 */
export const shopServices = (roots?: readonly string[]): string[] =>
  servicesInStartOrder(loadTopology({}), roots);

/** One process of the mesh: an instance of a service. */
export interface Member {
  service: string;
  instance: number;
  /** "users" for a lone instance, "inventory-1" when there are several. */
  label: string;
  /** Where it listens, `host:port`. */
  listen: string;
  /** Its store file. */
  store: string;
}

/** Every process the topology asks for, service by service. */
export function membersOf(
  topology: Topology,
  services: readonly string[] = servicesInStartOrder(topology),
): Member[] {
  return services.flatMap((name) => {
    const service = topology.services[name];
    if (!service) throw new Error(`${topology.file}: services.${name} is missing`);
    return service.instances.map((instance) => ({
      service: name,
      instance: instance.index,
      label: service.instances.length > 1 ? memberName(name, instance.index) : name,
      listen: instance.listen,
      store: service.store,
    }));
  });
}

/** Where a member serves its Prometheus metrics: its admin port (adminPortOf: gRPC port − 30000). */
export function metricsUrlOf(member: Member): string {
  const colon = member.listen.lastIndexOf(":");
  const port = adminPortOf(Number(member.listen.slice(colon + 1)));
  return `http://${member.listen.slice(0, colon)}:${port}/metrics`;
}

/** What a member runs: a compiled script and its arguments. */
export interface MemberEntry {
  script: string;
  args?: string[];
}

/**
 * The service's own program bundled into one file, `dist/bundle/services/<name>/main.js`
 * (scripts/bundle.mjs, run by the build): `services/<name>/main.ts` with every module it loads
 * to start inlined.
 */
export const serviceEntry = (root: string, service: string): MemberEntry => ({
  script: join(root, "dist", "bundle", "services", service, "main.js"),
});

/**
 * Where members keep Node's compile cache (NODE_COMPILE_CACHE) unless the user set one: the
 * V8 code of their bundle's top level, written when a member exits and read by the next start
 * of the same bundle, which then neither parses nor compiles it again: with the bundle, about a
 * quarter less CPU to serve (docs/BENCHMARKS.md, section f). A rebuilt bundle's cache no longer
 * matches and is remade. The folder is scripts/bundle.mjs's COMPILE_CACHE_DIR, which each build
 * empties and start:all itself uses too.
 */
export const compileCacheDir = (root: string): string => join(root, "dist", ".compile-cache");

// V8 lets the young generation grow to 16 MB semi-spaces on 64-bit machines, which idle
// members kept committed; 2 MB semi-spaces cut each member's resident memory by about
// 10 MB (docs/BENCHMARKS.md, section f). Busier deployments keep V8's default.
const SEMI_SPACE_MB = 2;

// glibc gives each thread that allocates (libuv's pool, where sqlite3 runs, and V8's helper
// threads) an arena of its own, up to 8 per core, each keeping what it freed; two arenas cut an
// idle member's resident memory by 1–2 MB (docs/BENCHMARKS.md, section f). Ignored by other C
// libraries.
const MALLOC_ARENAS = 2;

/**
 * The environment of every member start:all runs, and the scratch meshes of chaos, fuzz,
 * `loadtest --start` and bench run, so that they measure members as users run them:
 * NODE_OPTIONS with a smaller young generation, Node's compile cache ({@link compileCacheDir},
 * or the user's own NODE_COMPILE_CACHE), at most {@link MALLOC_ARENAS} malloc arenas (or the
 * user's own MALLOC_ARENA_MAX), and a cache of the parsed mesh.yaml (MESH_YAML_CACHE,
 * mesh/config/yaml-cache.ts) in the compile cache's folder, which each build empties.
 */
export function memberEnv(root = projectRoot()): NodeJS.ProcessEnv {
  const options = [process.env.NODE_OPTIONS, `--max-semi-space-size=${SEMI_SPACE_MB}`];
  return {
    NODE_OPTIONS: options.filter(Boolean).join(" "),
    NODE_COMPILE_CACHE: resolve(root, process.env.NODE_COMPILE_CACHE ?? compileCacheDir(root)),
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? String(MALLOC_ARENAS),
    MESH_YAML_CACHE: resolve(
      root,
      process.env.MESH_YAML_CACHE ?? join(compileCacheDir(root), "mesh-yaml"),
    ),
  };
}

/** Starts one member under the supervisor, as `node dist/bundle/services/<name>/main.js` by default. */
export function startMember(
  supervisor: Supervisor,
  root: string,
  member: Member,
  env: NodeJS.ProcessEnv = {},
  entry: MemberEntry = serviceEntry(root, member.service),
): void {
  supervisor.start({
    label: member.label,
    ...entry,
    env: { ...env, MESH_INSTANCE: String(member.instance) },
  });
}

/**
 * Resolves after `ms`, or sooner, when the member next writes to its standard output: members
 * log as they become ready ("serving"), so start:all asks again then, not up to a poll later
 * (on average half a poll for the member that comes up last, which start:all waits for).
 */
function pauseUntilOutput(child: ChildProcess | undefined, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const stream = child?.stdout;
    const done = (): void => {
      clearTimeout(timer);
      stream?.off("data", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stream?.on("data", done);
  });
}

/**
 * Resolves once the member answers SERVING to `identity` (the operator's); rejects if it
 * exits first or takes too long.
 */
export function memberServing(
  supervisor: Supervisor,
  member: Member,
  timeoutMs: number,
  identity: MeshIdentity,
): Promise<void> {
  const child = () => supervisor.processes.get(member.label);
  return waitForServing(
    member.listen,
    timeoutMs,
    () => child()?.exitCode === null,
    identity.dialOptions(member.service),
    (ms) => pauseUntilOutput(child(), ms),
  );
}

/** The gateway's label in start:all's logs and table. */
export const GATEWAY_LABEL = "gateway";
const GATEWAY_POLL_MS = 100;

/** Starts the HTTP gateway (dist/bundle/services/gateway/main.js) under the supervisor. */
export function startGateway(
  supervisor: Supervisor,
  root: string,
  env: NodeJS.ProcessEnv = {},
): void {
  supervisor.start({
    label: GATEWAY_LABEL,
    ...serviceEntry(root, "gateway"),
    env,
  });
}

/**
 * Whether a GET of `url` answers 2xx within `timeoutMs`. node:http rather than fetch, whose
 * first call loads undici (about 60 ms of start:all's CPU while the members start).
 */
function answersOk(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = httpGet(url, { timeout: timeoutMs }, (response) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 300);
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(false));
  });
}

/** Resolves once the gateway answers GET /healthz; rejects if it exits first or takes too long. */
export async function gatewayServing(
  supervisor: Supervisor,
  url: string,
  timeoutMs: number,
): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const ok = await answersOk(`${url}/healthz`, 500);
    if (ok) return;
    if (supervisor.processes.get(GATEWAY_LABEL)?.exitCode !== null) {
      throw new Error(`the gateway exited before it answered ${url}/healthz`);
    }
    if (Date.now() > giveUp)
      throw new Error(`the gateway did not answer ${url}/healthz in ${timeoutMs} ms`);
    await pauseUntilOutput(supervisor.processes.get(GATEWAY_LABEL), GATEWAY_POLL_MS);
  }
}
