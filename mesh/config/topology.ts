import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute, join, resolve } from "node:path";
import * as z from "zod";
import type { PolicyConfig } from "./policy-schema";
import { loadDescriptors } from "./descriptors";
import { durationOrZeroSchema, durationSchema } from "./duration";
import { projectRoot } from "./paths";
import { isPostgresUrl, serviceDatabaseUrl } from "./store-location";
import { unknownPolicyMethods } from "./policy";
import { percentage, policySchema, STATUS_NAMES } from "./policy-schema";
import { resolveSecurity, securitySchema, type SecurityConfig } from "./security";
import { parseYamlCached } from "./yaml-cache";

/** Thrown when the topology cannot be used; the message names the field and the fix. */
export class TopologyError extends Error {
  override readonly name = "TopologyError";
}

const serviceSchema = z
  .object({
    port: z.number().int().min(0).max(65_535),
    // Instance i listens on port + i × instancePortStep; all share the service's store.
    instances: z.number().int().min(1).max(16).default(1),
    store: z.string().min(1).optional(),
    target: z.string().min(1).optional(),
    dependsOn: z.array(z.string()).default([]),
  })
  .strict();

/** What each server does with its own incoming calls. */
const limitsSchema = z
  .object({
    // Handlers running at once per instance; more answer RESOURCE_EXHAUSTED with pushback.
    maxConcurrentCalls: z.number().int().min(1),
    // The grpc-retry-pushback-ms a shed call carries: how long the caller should wait.
    pushback: durationSchema,
    // On SIGTERM: NOT_SERVING for this long before the server stops taking calls; 0s for none.
    drainDelay: durationOrZeroSchema,
    // Then in-flight calls get this long to finish before they are cut off.
    shutdownGrace: durationSchema,
    // Token bucket per caller identity: `rate` calls a second, bursts up to `burst`; beyond
    // it RESOURCE_EXHAUSTED with the pushback above. Off when absent.
    perCaller: z
      .object({ rate: z.number().positive(), burst: z.number().int().min(1) })
      .strict()
      .optional(),
    // Largest request message accepted, in bytes; larger ones answer RESOURCE_EXHAUSTED.
    // Defaults to 4 MiB (server.ts).
    maxMessageSize: z.number().int().min(1).optional(),
    // HTTP/2 streams (calls) open at once on one connection; more wait in the client.
    // Defaults to 1000.
    maxConcurrentStreams: z.number().int().min(1).optional(),
    // Largest request metadata accepted, in bytes as HTTP/2 counts it (name + value + 32 per
    // entry); larger answers RESOURCE_EXHAUSTED. Defaults to 16 KiB.
    maxMetadataSize: z.number().int().min(1).optional(),
    // Most request metadata entries (header fields) accepted; more answer RESOURCE_EXHAUSTED.
    // Defaults to 100.
    maxMetadataEntries: z.number().int().min(1).optional(),
  })
  .strict();

/** An injected fault, as Istio's HTTPFaultInjection: delays and aborts by percentage. */
const faultSchema = z
  .object({
    service: z.string(),
    // "package.Service/Method" or "package.Service"; every method of the service when absent.
    method: z
      .string()
      .regex(/^[A-Za-z_][\w.]*\.[A-Z]\w*(\/[A-Z]\w*)?$/, {
        message: 'expected "package.Service" or "package.Service/Method"',
      })
      .optional(),
    delay: z.object({ percentage, duration: durationSchema }).strict().optional(),
    abort: z
      .object({
        percentage,
        code: z.enum(STATUS_NAMES.filter((n) => n !== "OK") as [string, ...string[]], {
          message: "expected a gRPC status name such as UNAVAILABLE",
        }),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((f) => f.delay || f.abort, { message: "a fault needs a delay, an abort, or both" });

/**
 * How events travel from producers' outboxes to consumers: the built-in gRPC stream
 * (StreamEvents/AckEvents), or NATS JetStream through a relay in each producer.
 */
const eventsSchema = z
  .object({
    transport: z
      .enum(["builtin", "nats"], { message: 'expected "builtin" or "nats"' })
      .default("builtin"),
    natsUrl: z
      .string()
      .regex(/^(nats|tls):\/\/\S+$/, { message: "expected a URL such as nats://127.0.0.1:4222" })
      .optional(),
  })
  .strict()
  .refine((e) => e.transport !== "nats" || e.natsUrl !== undefined, {
    message: "required when events.transport is nats (or set NATS_URL)",
    path: ["natsUrl"],
  });

const DEFAULT_EVENTS = { transport: "builtin" };

const DEFAULT_LIMITS = {
  maxConcurrentCalls: 256,
  pushback: "100ms",
  drainDelay: "1s",
  shutdownGrace: "10s",
};

const topologySchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).default("data"),
    instancePortStep: z.number().int().min(1).default(100),
    services: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), serviceSchema),
    policy: policySchema,
    limits: limitsSchema.default(DEFAULT_LIMITS as never),
    faults: z.array(faultSchema).default([]),
    security: securitySchema.prefault({}),
    events: eventsSchema.default(DEFAULT_EVENTS as never),
  })
  .strict();

export type LimitsConfig = z.output<typeof limitsSchema>;
export type FaultConfig = z.output<typeof faultSchema>;
export type EventsConfig = z.output<typeof eventsSchema>;

/** One process of a service. */
export interface InstanceTopology {
  /** 0 for the first instance. */
  index: number;
  /** Address it binds, `host:port`. */
  listen: string;
}

/** Where one service runs and what it owns. */
export interface ServiceTopology {
  name: string;
  /** Address this process binds: its instance's (see {@link serviceOf}), else the first. */
  listen: string;
  /** This process's instance number (`MESH_INSTANCE`), 0 unless there are several. */
  instance: number;
  /** Every instance of the service. */
  instances: InstanceTopology[];
  /**
   * What its clients dial (a grpc-js target): the one address, or for several instances an
   * `ipv4:` list that round robin balances over. Overridable, e.g. `dns:///inventory:50052`.
   */
  target: string;
  /**
   * Its SQLite file (default `<dataDir>/<name>.sqlite`), or its PostgreSQL database when
   * `<NAME>_DATABASE_URL` or `DATABASE_URL` is set: that URL with `?schema=<name>`.
   */
  store: string;
  dependsOn: string[];
}

/** The whole mesh: services, the call policy, server limits and injected faults. */
export interface Topology {
  file: string;
  /** Absolute path of `dataDir`: stores by default, and the users service's token keys. */
  dataDir: string;
  services: Record<string, ServiceTopology>;
  policy: PolicyConfig;
  limits: LimitsConfig;
  faults: FaultConfig[];
  /** mTLS identities and who may call what; see security-config.ts. */
  security: SecurityConfig;
  /** The event transport; `builtin` unless the file or EVENTS_TRANSPORT says `nats`. */
  events: EventsConfig;
}

const envName = (service: string, field: string): string =>
  `${service.toUpperCase().replace(/-/g, "_")}_${field}`;

/**
 * The setting that moves instance `instance` (0-based) of service `name` to another port, as
 * a message says it: `services.orders.port in mesh.yaml (or ORDERS_PORT=<port>)`, and for a
 * second instance that it listens instancePortStep above the first.
 */
export function portSetting(topology: Topology, name: string, instance: number): string {
  const setting = `services.${name}.port in ${topology.file} (or ${envName(name, "PORT")}=<port>)`;
  return instance === 0
    ? setting
    : `${setting}; instance ${instance + 1} listens ${instance} × instancePortStep above it`;
}

/**
 * The service's PostgreSQL store from `<NAME>_DATABASE_URL` or else `DATABASE_URL`, in a
 * schema of its own; undefined when neither is set (the SQLite store applies).
 */
function databaseUrlOf(service: string, env: NodeJS.ProcessEnv, file: string): string | undefined {
  const variable = [envName(service, "DATABASE_URL"), "DATABASE_URL"].find((v) => env[v]);
  if (!variable) return undefined;
  const value = env[variable] as string;
  if (!isPostgresUrl(value) || !URL.canParse(value)) {
    throw new TopologyError(
      `${file}: services.${service}.store (from ${variable}): expected a URL ` +
        "postgres://user:password@host:5432/database",
    );
  }
  return serviceDatabaseUrl(value, service);
}

/** The topology file read when `MESH_TOPOLOGY` is not set, relative to the project root. */
export const DEFAULT_TOPOLOGY_FILE = "mesh.yaml";

/**
 * Reads and validates the topology file (`MESH_TOPOLOGY`, default `mesh.yaml` at the project
 * root), with environment overrides: `MESH_HOST`, `MESH_DATA_DIR`, `EVENTS_TRANSPORT` and
 * `NATS_URL` (events.transport and events.natsUrl), and per service
 * `<NAME>_PORT`, `<NAME>_STORE`, `<NAME>_TARGET` (for example `USERS_PORT=6000`), and
 * `MESH_PLAINTEXT=1` for `security.mode: plaintext`, `MESH_CERTS_DIR` for
 * `security.certificateDir`.
 * `DATABASE_URL` (or per service `<NAME>_DATABASE_URL`) puts stores on PostgreSQL instead.
 * `MESH_YAML_CACHE` names a folder of parsed documents (yaml-cache.ts; start:all gives its
 * members one).
 *
 * @throws TopologyError naming the field and what is expected.
 */
export function loadTopology(env: NodeJS.ProcessEnv = process.env): Topology {
  const root = projectRoot();
  const file = env.MESH_TOPOLOGY ?? join(root, DEFAULT_TOPOLOGY_FILE);
  let raw: unknown;
  try {
    raw = parseYamlCached(readFileSync(file, "utf8"), env.MESH_YAML_CACHE);
  } catch (err) {
    throw new TopologyError(`${file}: cannot be read as YAML: ${(err as Error).message}`);
  }
  return parseTopology(raw, file, env);
}

/** Validates an already-parsed topology document; see {@link loadTopology}. */
export function parseTopology(raw: unknown, file: string, env: NodeJS.ProcessEnv = {}): Topology {
  const doc = structuredClone(raw) as Record<string, unknown> | null;
  if (!doc || typeof doc !== "object")
    throw new TopologyError(`${file}: expected a YAML mapping at the top level`);
  const overridden = new Map<string, string>();
  const override = (
    target: Record<string, unknown>,
    key: string,
    variable: string,
    path: string,
    asNumber = false,
  ) => {
    const value = env[variable];
    if (value === undefined) return;
    target[key] = asNumber && /^\d+$/.test(value) ? Number(value) : value;
    overridden.set(path, variable);
  };
  override(doc, "host", "MESH_HOST", "host");
  override(doc, "dataDir", "MESH_DATA_DIR", "dataDir");
  if (env.MESH_PLAINTEXT === "1") {
    doc.security = { ...(doc.security as object), mode: "plaintext" };
    overridden.set("security.mode", "MESH_PLAINTEXT");
  }
  if (env.MESH_CERTS_DIR) {
    doc.security = { ...(doc.security as object), certificateDir: env.MESH_CERTS_DIR };
    overridden.set("security.certificateDir", "MESH_CERTS_DIR");
  }
  if (env.EVENTS_TRANSPORT !== undefined || env.NATS_URL !== undefined) {
    doc.events ??= { ...DEFAULT_EVENTS };
    const events = doc.events as Record<string, unknown>;
    if (events && typeof events === "object") {
      override(events, "transport", "EVENTS_TRANSPORT", "events.transport");
      override(events, "natsUrl", "NATS_URL", "events.natsUrl");
    }
  }
  if (doc.services && typeof doc.services === "object") {
    for (const [name, service] of Object.entries(
      doc.services as Record<string, Record<string, unknown>>,
    )) {
      if (!service || typeof service !== "object") continue;
      override(service, "port", envName(name, "PORT"), `services.${name}.port`, true);
      override(
        service,
        "instances",
        envName(name, "INSTANCES"),
        `services.${name}.instances`,
        true,
      );
      override(service, "store", envName(name, "STORE"), `services.${name}.store`);
      override(service, "target", envName(name, "TARGET"), `services.${name}.target`);
    }
  }

  const parsed = topologySchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const path = issue.path.join(".") || "(top level)";
      const from = overridden.get(path);
      // zod reports a bad record key as "Invalid key in record", our message one level down.
      const message =
        issue.code === "invalid_key"
          ? issue.issues.map((i) => i.message).join("; ")
          : issue.message;
      return `  ${path}${from ? ` (from ${from})` : ""}: ${message}`;
    });
    throw new TopologyError(`${file} is not a valid topology:\n${lines.join("\n")}`);
  }
  const { host, dataDir, instancePortStep, services, policy, limits, faults, events } = parsed.data;
  const security = resolveSecurity(
    parsed.data.security,
    Object.keys(services),
    dataDir,
    projectRoot(),
    loadDescriptors(),
  );
  if (typeof security === "string") throw new TopologyError(`${file}: ${security}`);
  const unknown = unknownPolicyMethods(policy, loadDescriptors());
  if (unknown.length > 0) {
    throw new TopologyError(
      `${file}: policy.methods: ${unknown.map((m) => `"${m}"`).join(", ")} names no method in proto/`,
    );
  }
  const root = projectRoot();
  const resolved: Record<string, ServiceTopology> = {};
  for (const [name, service] of Object.entries(services)) {
    for (const peer of service.dependsOn) {
      if (!services[peer]) {
        throw new TopologyError(
          `${file}: services.${name}.dependsOn: "${peer}" is not a service in this file`,
        );
      }
    }
    const store =
      databaseUrlOf(name, env, file) ?? service.store ?? join(dataDir, `${name}.sqlite`);
    const instances = Array.from({ length: service.instances }, (_, index) => ({
      index,
      // Port 0 (tests) stays 0: every instance gets its own ephemeral port.
      listen: `${host}:${service.port === 0 ? 0 : service.port + index * instancePortStep}`,
    }));
    if (instances.length > 1 && !service.target && isIP(host) === 0) {
      throw new TopologyError(
        `${file}: services.${name}: ${instances.length} instances on host "${host}" need a target ` +
          `(for example dns:///${name}:${service.port}), or an IP address as host`,
      );
    }
    const addresses = instances.map((i) => i.listen).join(",");
    const ipScheme = isIP(host) === 6 ? "ipv6" : "ipv4";
    resolved[name] = {
      name,
      listen: instances[0].listen,
      instance: 0,
      instances,
      target:
        service.target ?? (instances.length > 1 ? `${ipScheme}:${addresses}` : instances[0].listen),
      store:
        store === ":memory:" || isAbsolute(store) || isPostgresUrl(store)
          ? store
          : join(root, store),
      dependsOn: service.dependsOn,
    };
  }
  for (const [i, fault] of faults.entries()) {
    const [faultService] = (fault.method ?? "").split("/");
    const known = fault.method?.includes("/")
      ? loadDescriptors().method(`/${fault.method}`)
      : loadDescriptors().methods(faultService).length > 0;
    if (fault.method && !known) {
      throw new TopologyError(
        `${file}: faults.${i}.method: "${fault.method}" names no method in proto/`,
      );
    }
    if (!resolved[fault.service]) {
      throw new TopologyError(
        `${file}: faults.${i}.service: "${fault.service}" is not a service in this file`,
      );
    }
  }
  return {
    file,
    dataDir: resolve(root, dataDir),
    services: resolved,
    policy,
    limits,
    faults,
    security,
    events,
  };
}

/** What clients of a service dial: its `target`. A TopologyError names what is missing. */
export function targetOf(topology: Topology, name: string): string {
  const service = topology.services[name];
  if (!service) throw new TopologyError(`${topology.file}: services.${name} is missing`);
  return service.target;
}

/**
 * The topology of one service as seen by the process running instance `MESH_INSTANCE`
 * (default 0): `listen` is that instance's address. A TopologyError names what is missing.
 */
export function serviceOf(
  topology: Topology,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): ServiceTopology {
  const service = topology.services[name];
  if (!service) throw new TopologyError(`${topology.file}: services.${name} is missing`);
  const index = Number(env.MESH_INSTANCE ?? 0);
  const instance = service.instances[index];
  if (!Number.isInteger(index) || !instance) {
    throw new TopologyError(
      `MESH_INSTANCE=${env.MESH_INSTANCE}: services.${name} has instances 0 to ${service.instances.length - 1}`,
    );
  }
  return { ...service, instance: index, listen: instance.listen };
}

/**
 * The services of the topology in an order where each comes after those it `dependsOn`, and
 * otherwise in the file's order: the one list of services, which start:all, the deploy
 * generator and the tests derive from mesh.yaml. With `roots`, only those services and what they
 * depend on, directly or not (what `orders` needs to place an order).
 *
 * @throws TopologyError when `dependsOn` goes round in a circle.
 */
export function servicesInStartOrder(
  topology: Topology,
  roots: readonly string[] = Object.keys(topology.services),
): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (order.includes(name)) return;
    if (visiting.has(name)) {
      throw new TopologyError(
        `${topology.file}: services.${name}.dependsOn: a cycle (${[...path, name].join(" -> ")})`,
      );
    }
    if (!topology.services[name]) {
      throw new TopologyError(`${topology.file}: services.${name} is missing`);
    }
    visiting.add(name);
    for (const peer of topology.services[name].dependsOn) visit(peer, [...path, name]);
    visiting.delete(name);
    order.push(name);
  };
  for (const name of roots) visit(name, []);
  return order;
}
