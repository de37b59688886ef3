import { existsSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { join, posix, relative, sep } from "node:path";
import {
  DEFAULT_TOPOLOGY_FILE,
  DESCRIPTOR_SET_FILE,
  MALLOC_TRIM_ADDON,
  projectRoot,
  ROOT_MARKER,
} from "../../mesh/config";
import { staticFiles } from "../../services/gateway/static-files";

/** A file the code reads while it runs, relative to the project root, and who reads it. */
export interface RuntimeFile {
  path: string;
  readBy: string;
}

const toPosix = (path: string): string => path.split(sep).join(posix.sep);

/** The compiled entry of an image's service, as the build writes it. */
export const entryOf = (service: string): string => `dist/services/${service}/main.js`;

/**
 * Every file the services read from the project folder at run time, from the code that reads
 * them: the root marker, the default topology, the descriptor set, the malloc_trim addon, the
 * gateway's static files and each image's compiled entry (the modules it requires are
 * {@link requireGraph}'s).
 * Not here: what lives in the data folder (SQLite files, keys, fault overrides) and the
 * certificates, which a deployment mounts.
 */
export function runtimeFiles(images: readonly string[], root = projectRoot()): RuntimeFile[] {
  return [
    {
      path: ROOT_MARKER,
      readBy: "projectRoot() finds the project folder by it (mesh/config/paths.ts)",
    },
    {
      path: DEFAULT_TOPOLOGY_FILE,
      readBy:
        "loadTopology() without MESH_TOPOLOGY, and the faults watcher (mesh/config/topology.ts)",
    },
    {
      path: DESCRIPTOR_SET_FILE,
      readBy: "reflection, policies and the OpenAPI document (mesh/config/descriptors.ts)",
    },
    {
      path: MALLOC_TRIM_ADDON,
      readBy: "idle members hand freed memory back (mesh/process/malloc-trim.ts)",
    },
    ...[...staticFiles(root)].map(([url, file]) => ({
      path: toPosix(relative(root, file.path)),
      readBy: `the gateway serves it at ${url} (services/gateway/static-files.ts)`,
    })),
    ...images.map((service) => ({
      path: entryOf(service),
      readBy: `node dist/main.js in the ${service} image`,
    })),
  ];
}

/** What a set of compiled entry points loads, found by following their `require` calls. */
export interface ModuleGraph {
  /** Project modules, relative to the root. */
  files: string[];
  /** npm packages required by name, sorted. */
  packages: string[];
  /** Relative requires that name no file, as `file: specifier`. */
  unresolved: string[];
}

const REQUIRE = /\brequire\("([^"]+)"\)/g;
const BUILTINS = new Set(builtinModules);

/** `@scope/name` or `name` of a bare specifier such as `knex/lib/dialects/sqlite3`. */
const packageOf = (specifier: string): string =>
  specifier
    .split("/")
    .slice(0, specifier.startsWith("@") ? 2 : 1)
    .join("/");

/**
 * Follows every `require("…")` of the compiled JavaScript from `entries` (relative to `root`),
 * lazy ones included: a module that a service loads only on some path (an exporter, a
 * driver) must be in the image all the same.
 */
export function requireGraph(root: string, entries: readonly string[]): ModuleGraph {
  const files = new Set<string>();
  const packages = new Set<string>();
  const unresolved: string[] = [];
  const pending = [...entries];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    if (!file.endsWith(".js")) continue;
    for (const [, specifier] of readFileSync(join(root, file), "utf8").matchAll(REQUIRE)) {
      if (specifier.startsWith("node:") || BUILTINS.has(specifier)) continue;
      if (!specifier.startsWith(".")) {
        packages.add(packageOf(specifier));
        continue;
      }
      const base = posix.join(posix.dirname(file), specifier);
      const found = [`${base}.js`, `${base}/index.js`, base].find((candidate) =>
        existsSync(join(root, candidate)),
      );
      if (found) pending.push(found);
      else unresolved.push(`${file}: ${specifier}`);
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort(), unresolved };
}

/** The packages `npm prune --omit=dev` keeps at the top of node_modules, from the lockfile. */
export function productionPackages(root: string): string[] {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, entry]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !entry.dev)
    .map(([path]) => path.slice("node_modules/".length))
    .sort();
}

/** The production dependencies package.json declares (what the image keeps after prune). */
export function declaredDependencies(root: string): string[] {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(manifest.dependencies ?? {}).sort();
}
