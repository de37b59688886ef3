// The second half of `npm run build` (scripts/build.mjs): what `npm run start:all` runs, one
// file per process. Each service's program (services/<name>/main.ts) and start:all itself
// (scripts/start-all.ts) become dist/bundle/<same path>.js, with every module they load at start
// inlined by esbuild. A member that loads its roughly 900 modules one by one spends a large part
// of its start resolving, reading and compiling them; from one file, with Node's compile cache
// (scripts/members.ts), it needs about a quarter less CPU to serve (docs/BENCHMARKS.md,
// section f).
//
// Bundled from the TypeScript sources and the packages' ES modules, not from tsc's CommonJS in
// dist/: through `import`, esbuild keeps only what is used (zod without its 40 locales,
// @bufbuild/protobuf without the well-known types nobody reads), so a member's bundle is 1.7 MB
// instead of 2.9 MB, and that much less source sits in every member's heap. tsconfig.json's
// `isolatedModules` is what makes esbuild's per-file TypeScript the same JavaScript as tsc's.
// package.json's `"sideEffects": false` says the same of the project's own modules: none does
// anything when imported but define what it exports, so a module none of whose exports a
// program uses is left out with what it imports (the gateway, which has no store, imports the
// mesh's index and so mesh/store/sqlite.ts, whose top level requires knex: without the flag its
// bundle held knex and lodash, 550 KB, and ran them at start).
import { existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

/** Where the bundles go, under the project root. */
export const BUNDLE_DIR = join("dist", "bundle");

/**
 * Node's compile cache for the bundles, under the project root (scripts/members.ts,
 * compileCacheDir, gives it to the members; build-if-stale.mjs to start:all).
 */
export const COMPILE_CACHE_DIR = join("dist", ".compile-cache");

/** The programs start:all runs, relative to the root, without `.ts`: every service, and start:all. */
function entries(root) {
  const services = join(root, "services");
  const mains = readdirSync(services).filter((name) => existsSync(join(services, name, "main.ts")));
  return [...mains.map((name) => `services/${name}/main`), "scripts/start-all"];
}

/**
 * Left to Node's own `require` at run time, from node_modules:
 * - sqlite3: a native addon, loaded with its binary;
 * - what the code loads only when it is used (a PostgreSQL store, NATS events, the OTLP
 *   exporter, and @grpc/proto-loader with protobufjs, which grpc-js loads only to serve
 *   channelz or ORCA): bundled, its source would sit in every process's heap unused. (jose is
 *   bundled: users signs with it from its start, where loading its 83 files cost 100 ms and
 *   6 MB, and the others take only its verifier, mesh/identity/jose-verify.ts);
 * - knex's dialects other than SQLite's and PostgreSQL's, which it loads by client name.
 */
const EXTERNAL = [
  "sqlite3",
  "pg",
  "nats",
  "@opentelemetry/exporter-trace-otlp-http",
  "@grpc/proto-loader",
];
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
 * Writes dist/bundle/ afresh from the sources (esbuild, a devDependency): into a folder beside it,
 * which then replaces it, so that a process starting meanwhile finds the old bundles or the new.
 */
export async function bundle(root) {
  const { build } = await import("esbuild");
  const target = join(root, BUNDLE_DIR);
  const outdir = `${target}.new`;
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(entries(root).map((e) => [e, `${e}.ts`])),
    tsconfig: "tsconfig.build.json",
    outdir,
    bundle: true,
    platform: "node",
    // A package's ES module build before its CommonJS one where it has both and no `exports`
    // map to choose (the OpenTelemetry packages): only ES modules can be shaken.
    mainFields: ["module", "main"],
    target: "node24",
    format: "cjs",
    external: EXTERNAL,
    plugins: [knexDialects],
    // Whitespace and syntax minified (the source of every function stays in the heap: 1.75 MB
    // for users instead of 2.65 MB), names not: stack traces, CPU profiles
    // (MESH_CPU_PROFILE_DIR) and class names in logs read as they do from dist/. Renamed, users'
    // bundle would be 1.2 MB, but a renamed bundle parsed without the compile cache (the first
    // start after a build) left 12 MB of V8's parser memory behind (docs/BENCHMARKS.md,
    // section f).
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
  // The compile cache's entries are keyed by the code they were made from, so new bundles make
  // new ones and Node never drops the old; each build starts it afresh rather than let it grow.
  rmSync(join(root, COMPILE_CACHE_DIR), { recursive: true, force: true });
}
