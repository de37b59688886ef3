#!/usr/bin/env node
// `node scripts/build-if-stale.mjs`: builds dist/ (scripts/build.mjs: tsc, incremental, a
// prune of outputs whose source is gone, then the bundles of dist/bundle/) only when a source,
// the build's scripts or the installed packages changed since the last build, so that `npm run start:all`
// and the other commands that run dist/ start in milliseconds when nothing changed. Loading
// TypeScript alone costs about a second, which is why the check is done here, by timestamps.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const CONFIG = "tsconfig.build.json";
// Written after each successful build, dated when that build started: a source saved during
// the build is newer than the stamp, so the next start builds again.
const STAMP = join(root, "dist", ".build-stamp");

let values;
try {
  ({ values } = parseArgs({
    options: { help: { type: "boolean", short: "h" }, force: { type: "boolean" } },
  }));
} catch (err) {
  console.error(`build-if-stale: ${err.message} (see --help)`);
  process.exit(2);
}
if (values.help) {
  console.log(`Usage: node scripts/build-if-stale.mjs [--force]

Builds dist/ (npm run build) when a source, a folder, a tsconfig, the
build's scripts or the installed packages changed since the last build
(dist/.build-stamp); otherwise does nothing.
--force builds anyway.`);
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
