#!/usr/bin/env node
// `node scripts/build-if-stale.mjs [SCRIPT [ARGS…]]`: builds dist/ (scripts/build.mjs: tsc,
// incremental, a prune of outputs whose source is gone, then the bundles of dist/bundle/) only
// when a source, the build's scripts or the installed packages changed since the last build, so
// that `npm run start:all` and the other commands that run dist/ start in milliseconds when
// nothing changed. Loading TypeScript alone costs about a second, which is why the check is done
// here, by timestamps. Given a compiled SCRIPT, it then runs it in this same process, with
// Node's compile cache: start:all's bundle starts without a second Node start before it.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createRequire, enableCompileCache } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { COMPILE_CACHE_DIR } from "./bundle.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CONFIG = "tsconfig.build.json";
// Written after each successful build, dated when that build started: a source saved during
// the build is newer than the stamp, so the next start builds again.
const STAMP = join(root, "dist", ".build-stamp");

// This script's own flags come before SCRIPT; what follows SCRIPT is SCRIPT's.
const args = process.argv.slice(2);
const scriptAt = args.findIndex((arg) => !arg.startsWith("-"));
const own = scriptAt < 0 ? args : args.slice(0, scriptAt);
const script = scriptAt < 0 ? undefined : args[scriptAt];

let values;
try {
  ({ values } = parseArgs({
    args: own,
    options: { help: { type: "boolean", short: "h" }, force: { type: "boolean" } },
  }));
} catch (err) {
  console.error(`build-if-stale: ${err.message} (see --help)`);
  process.exit(2);
}
if (values.help) {
  console.log(`Usage: node scripts/build-if-stale.mjs [--force] [SCRIPT [ARGS...]]

Builds dist/ (npm run build) when a source, a folder, a tsconfig, the
build's scripts or the installed packages changed since the last build
(dist/.build-stamp); otherwise does nothing.
--force builds anyway.
SCRIPT, a compiled CommonJS file (dist/bundle/scripts/start-all.js),
is then run in this process with ARGS, as \`node SCRIPT ARGS...\` would.`);
  process.exit(0);
}

// Besides the sources: the build's own scripts, and the installed packages, which the bundles
// of dist/bundle/ hold copies of (npm rewrites node_modules/.package-lock.json on every install).
const BUILD_FILES = [
  CONFIG,
  "tsconfig.json",
  "scripts/build.mjs",
  "scripts/bundle.mjs",
  "node_modules/.package-lock.json",
];

/**
 * The newest modification time of what the build reads: {@link BUILD_FILES}, and under each
 * folder `include`d by tsconfig.build.json every .ts file that is not a test, and every
 * folder (a file added, renamed or deleted changes its folder's time).
 */
function newestInput() {
  const { include } = JSON.parse(readFileSync(join(root, CONFIG), "utf8"));
  let newest = Math.max(
    ...BUILD_FILES.filter((file) => existsSync(join(root, file))).map(
      (file) => statSync(join(root, file)).mtimeMs,
    ),
  );
  const walk = (dir) => {
    newest = Math.max(newest, statSync(dir).mtimeMs);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts"))
        newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const folder of include) if (existsSync(join(root, folder))) walk(join(root, folder));
  return newest;
}

const stale = values.force || !existsSync(STAMP) || newestInput() > statSync(STAMP).mtimeMs;
if (stale) {
  const started = new Date();
  // npm run build's script: tsc, then the outputs of sources that are gone are removed.
  const build = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], {
    cwd: root,
    stdio: "inherit",
  });
  // A signal during the build (Ctrl-C, or npm passing on SIGTERM) ends it like tsc's own.
  if (build.signal) process.kill(process.pid, build.signal);
  if (build.status !== 0) process.exit(build.status ?? 1);
  writeFileSync(STAMP, `${started.toISOString()}\n`);
  utimesSync(STAMP, started, started);
}

if (script !== undefined) {
  // As `node SCRIPT ARGS…`: SCRIPT sees itself as argv[1] and its own flags after it. Node's
  // compile cache in the folder start:all gives its members (scripts/members.ts), unless the
  // user set NODE_COMPILE_CACHE (then Node enabled it already).
  const path = resolve(script);
  process.argv.splice(1, process.argv.length - 1, path, ...args.slice(scriptAt + 1));
  if (!process.env.NODE_COMPILE_CACHE) enableCompileCache(join(root, COMPILE_CACHE_DIR));
  createRequire(import.meta.url)(path);
}
