#!/usr/bin/env node
// `npm run build`: compiles the tree into dist/ (incremental, dist/.tsbuildinfo), then removes
// what no source makes any more. tsc never deletes outputs, and Node resolves
// require("./mesh/server") to a stale dist/mesh/server.js before dist/mesh/server/index.js, so a
// file moved into a folder would otherwise keep its old compiled self alive.
// Then bundles what start:all runs (bundle.mjs): each service's main.js and start:all itself,
// one file each under dist/bundle/.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLE_DIR, bundle } from "./bundle.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");

/** Deletes every `x.js` (and its map) under `dir` whose `x.ts` is gone; then empty folders. */
function prune(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // Bundles have no source of their own: bundle() rewrites the folder whole.
      if (path === join(root, BUNDLE_DIR)) continue;
      prune(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    const compiled = /\.js(\.map)?$/.exec(entry.name);
    if (!compiled) continue;
    const source = join(root, relative(dist, path).replace(/\.js(\.map)?$/, ".ts"));
    if (!existsSync(source)) rmSync(path);
  }
}

try {
  execFileSync(
    process.execPath,
    [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: process.argv.includes("--quiet") ? "pipe" : "inherit",
    },
  );
} finally {
  // Type errors still emit (noEmitOnError is off): prune and bundle either way, so that nothing
  // runs code older than the sources, and let tsc's status stand.
  if (existsSync(dist)) {
    prune(dist);
    await bundle(root);
  }
}
