// The second half of `npm run build` (scripts/build.mjs): what `npm run start:all` runs, one
// file per process. Each service's compiled main.js (dist/services/<name>/main.js) and start:all
// itself (dist/scripts/start-all.js) become dist/bundle/<same path>, with every module they load
// at start inlined by esbuild. A member that loads its roughly 900 modules one by one spends a
// large part of its start resolving, reading and compiling them; from one file, with Node's
// compile cache (scripts/members.ts), it needs about a quarter less CPU to serve
// (docs/BENCHMARKS.md, section f). Bundled from tsc's output, so that both run the same code.
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

/** Where the bundles go, under the project root. */
export const BUNDLE_DIR = join("dist", "bundle");

/** The compiled entries start:all runs, relative to dist/: every service, and start:all. */
function entries(root) {
  const services = join(root, "dist", "services");
  const mains = existsSync(services)
    ? readdirSync(services).filter((name) => existsSync(join(services, name, "main.js")))
    : [];
  return [...mains.map((name) => `services/${name}/main`), "scripts/start-all"];
}

/**
 * Left to Node's own `require` at run time, from node_modules:
 * - sqlite3: a native addon, loaded with its binary;
 * - what the code loads only when it is used (a PostgreSQL store, NATS events, end-user
 *   tokens, the OTLP exporter): bundled, its source would sit in every process's heap unused;
 * - knex's dialects other than SQLite's and PostgreSQL's, which it loads by client name.
 */
const EXTERNAL = ["sqlite3", "pg", "nats", "jose", "@opentelemetry/exporter-trace-otlp-http"];
const BUNDLED_DIALECTS = new Set(["sqlite3", "postgres"]);

/** knex's `require('./mssql')` and the like in lib/dialects/index.js, as run-time requires. */
const knexDialects = {
  name: "knex-dialects",
  setup(build) {
    build.onResolve({ filter: /^\.\/[\w-]+$/ }, ({ path, importer }) => {
      if (!/knex[\\/]lib[\\/]dialects[\\/]index\.js$/.test(importer)) return undefined;
      const name = path.slice(2);
      if (BUNDLED_DIALECTS.has(name)) return undefined;
      return { path: `knex/lib/dialects/${name}`, external: true };
    });
  },
};

/**
 * Writes dist/bundle/ afresh from dist/ (esbuild, a devDependency): into a folder beside it,
 * which then replaces it, so that a process starting meanwhile finds the old bundles or the new.
 */
export async function bundle(root) {
  const { build } = await import("esbuild");
  const target = join(root, BUNDLE_DIR);
  const outdir = `${target}.new`;
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(entries(root).map((e) => [e, join("dist", `${e}.js`)])),
    outdir,
    bundle: true,
    platform: "node",
    target: "node24",
    format: "cjs",
    external: EXTERNAL,
    plugins: [knexDialects],
    // Whitespace and syntax minified (the source of every function stays in the heap: 3 MB for
    // a service instead of 5 MB), names not: stack traces, CPU profiles (MESH_CPU_PROFILE_DIR)
    // and class names in logs read as they do from dist/. Renamed, a bundle is 2 MB and saves
    // 1.5 MB with the compile cache, but parsed without it leaves 12 MB of V8's parser memory
    // behind (docs/BENCHMARKS.md, section f).
    minifyWhitespace: true,
    minifySyntax: true,
    // No keepNames: it wraps every named function and closure in `__name(fn, "fn")`, an
    // Object.defineProperty each time the closure is made (per request on the hot paths), which
    // cost PlaceOrder a fifth of its throughput (bench c: 230 → 295 orders/s, CPU per order
    // 6.29 → 4.89 ms, 2026-12-06 01:35 UTC). Names stay as written anyway (identifiers are not
    // minified); only a name esbuild renames to avoid a clash between modules loses it.
    keepNames: false,
    // A non-ASCII character anywhere makes V8 keep the whole source as a two-byte string.
    charset: "ascii",
    legalComments: "none",
    logLevel: "warning",
  });
  rmSync(target, { recursive: true, force: true });
  renameSync(outdir, target);
}
