#!/usr/bin/env node
// Regenerates gen/ from proto/: lint, TypeScript (ts-proto), and the descriptor set that
// server reflection serves (`--check` also fails when the result differs from what is
// committed). Uses only tools from node_modules: buf ships its own compiler,
// so nothing is downloaded (grpc-tools fetches protoc at install time and fails offline).
import { execFileSync } from "node:child_process";
import { rmSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const buf = join(root, "node_modules", ".bin", "buf");
const run = (...args) => execFileSync(buf, args, { cwd: root, stdio: "inherit" });

run("lint");
rmSync(join(root, "gen"), { recursive: true, force: true });
mkdirSync(join(root, "gen"));
run("generate");
// The full image, imports and source comments included: reflection serves these bytes
// unchanged, so grpcurl sees well-known types and cross-file imports (grpc-node#3018).
run("build", "--as-file-descriptor-set", "-o", "gen/descriptor-set.binpb");

// `--check` (CI): the committed gen/ must be exactly what the contracts generate.
if (process.argv.includes("--check")) {
  const drift = execFileSync("git", ["status", "--porcelain", "--", "gen"], {
    cwd: root,
    encoding: "utf8",
  });
  if (drift.trim() !== "") {
    console.error(
      `codegen: gen/ differs from a fresh codegen; run \`npm run codegen\` and commit:\n${drift}`,
    );
    process.exit(1);
  }
}
console.log("codegen: gen/ is up to date");
