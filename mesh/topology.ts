import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { loadDescriptors } from "./descriptors";
import { parseDuration } from "./duration";
import { projectRoot } from "./paths";
import { unknownPolicyMethods } from "./policy";

/** Thrown when the topology cannot be used; the message names the field and the fix. */
export class TopologyError extends Error {
  override readonly name = "TopologyError";
}

const STATUS_NAMES = Object.keys(Status).filter((k) => Number.isNaN(Number(k)));
// A cancelled call or a spent deadline is never retried (gRFC A6 stops at the deadline too).
const NEVER_RETRIED = ["OK", "CANCELLED", "DEADLINE_EXCEEDED"];
const RETRYABLE_NAMES = STATUS_NAMES.filter((name) => !NEVER_RETRIED.includes(name));

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({
      code: "custom",
      message: `expected a duration such as "250ms" or "2s", got "${text}"`,
    });
    return z.NEVER;
  }
  return ms;
});

const retrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(5).describe("1 turns retries off; grpc-js caps at 5"),
    initialBackoff: duration,
    maxBackoff: duration,
    backoffMultiplier: z.number().min(1),
    retryableCodes: z
      .array(
        z.enum(RETRYABLE_NAMES as [string, ...string[]], {
          message: `expected one of ${RETRYABLE_NAMES.join(", ")} (${NEVER_RETRIED.join(", ")} are never retried)`,
        }),
      )
      .min(1),
  })
  .strict();

const methodPolicySchema = z
  .object({ timeout: duration.optional(), retry: retrySchema.partial().strict().optional() })
  .strict();

const policySchema = z
  .object({
    defaults: z.object({ timeout: duration, retry: retrySchema }).strict(),
    retryThrottling: z
      .object({ maxTokens: z.number().int().min(1).max(1000), tokenRatio: z.number().gt(0).max(1) })
      .strict(),
    methods: z
      .record(
        z.string().regex(/^[A-Za-z_][\w.]*\.[A-Z]\w*(\/[A-Z]\w*)?$/, {
          message: 'expected "package.Service" or "package.Service/Method"',
        }),
        methodPolicySchema,
      )
      .default({}),
  })
  .strict();

const serviceSchema = z
  .object({
    port: z.number().int().min(0).max(65_535),
    store: z.string().min(1).optional(),
    target: z.string().min(1).optional(),
    dependsOn: z.array(z.string()).default([]),
  })
  .strict();

const topologySchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    dataDir: z.string().min(1).default("data"),
    services: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/), serviceSchema),
    policy: policySchema,
  })
  .strict();

export type RetryConfig = z.output<typeof retrySchema>;
export type PolicyConfig = z.output<typeof policySchema>;

/** Where one service runs and what it owns. */
export interface ServiceTopology {
  name: string;
  /** Address the server binds, `host:port`. */
  listen: string;
  /** Address its clients dial (a grpc-js target). Defaults to `listen`. */
  target: string;
  /** Its SQLite file. Defaults to `<dataDir>/<name>.sqlite`. */
  store: string;
  dependsOn: string[];
}

/** The whole mesh: services and the call policy. */
export interface Topology {
  file: string;
  services: Record<string, ServiceTopology>;
  policy: PolicyConfig;
}

const envName = (service: string, field: string): string =>
  `${service.toUpperCase().replace(/-/g, "_")}_${field}`;

/**
 * Reads and validates the topology file (`MESH_TOPOLOGY`, default `mesh.yaml` at the project
 * root), with environment overrides: `MESH_HOST`, `MESH_DATA_DIR`, and per service
 * `<NAME>_PORT`, `<NAME>_STORE`, `<NAME>_TARGET` (for example `USERS_PORT=6000`).
 *
 * @throws TopologyError naming the field and what is expected.
 */
export function loadTopology(env: NodeJS.ProcessEnv = process.env): Topology {
  const root = projectRoot();
  const file = env.MESH_TOPOLOGY ?? join(root, "mesh.yaml");
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, "utf8"));
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
  if (doc.services && typeof doc.services === "object") {
    for (const [name, service] of Object.entries(
      doc.services as Record<string, Record<string, unknown>>,
    )) {
      if (!service || typeof service !== "object") continue;
      override(service, "port", envName(name, "PORT"), `services.${name}.port`, true);
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
  const { host, dataDir, services, policy } = parsed.data;
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
    const store = service.store ?? join(dataDir, `${name}.sqlite`);
    const listen = `${host}:${service.port}`;
    resolved[name] = {
      name,
      listen,
      target: service.target ?? listen,
      store: store === ":memory:" || isAbsolute(store) ? store : join(root, store),
      dependsOn: service.dependsOn,
    };
  }
  return { file, services: resolved, policy };
}

/** The topology of one service, or a TopologyError saying which file lacks it. */
export function serviceOf(topology: Topology, name: string): ServiceTopology {
  const service = topology.services[name];
  if (!service) throw new TopologyError(`${topology.file}: services.${name} is missing`);
  return service;
}
