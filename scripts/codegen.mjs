#!/usr/bin/env node
// Regenerates gen/ from proto/: lint, compatibility with the contracts as they were (buf
// breaking against the committed baseline image), TypeScript (ts-proto), and the descriptor
// set that server reflection serves (`--check` also fails when the result differs from what
// is committed). Uses only tools from node_modules: buf ships its own compiler, so nothing
// is downloaded (grpc-tools fetches protoc at install time and fails offline).
import { execFileSync } from "node:child_process";
import { rmSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

// The same conventions as scripts/cli.ts (this file runs before anything is compiled):
// --help prints the usage and exits 0; a wrong flag names it, with the usage, and exits 2.
const USAGE = `usage: npm run codegen [-- --check | --new-baseline]

Lints proto/ (buf lint), checks it against the contracts as they were (buf breaking against
buf.baseline.binpb, a committed buf image), regenerates gen/ (buf generate with ts-proto),
and writes gen/descriptor-set.binpb, the compiled contracts that server reflection serves.
An incompatible change (a field removed, renumbered or retyped, a method gone…) stops it
with buf's findings.

  --check             then exit 1 if gen/ differs from what is committed
                      (npm run codegen:check; CI runs it)
  --new-baseline      make the contracts in proto/ the baseline first, accepting an
                      incompatible change deliberately (npm run codegen:baseline; commit
                      buf.baseline.binpb with the change)
  -h, --help          show this and exit`;
const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
let flags;
try {
  flags = parseArgs({
    args,
    options: { check: { type: "boolean" }, "new-baseline": { type: "boolean" } },
  }).values;
} catch (err) {
  process.stderr.write(`codegen: ${err.message}\n\n${USAGE}\n`);
  process.exit(2);
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const buf = join(root, "node_modules", ".bin", "buf");
const BASELINE = "buf.baseline.binpb";
/** Runs buf; on failure, buf has said why: add `hint` and exit 1 (no stack trace). */
const run = (args, hint = "") => {
  try {
    execFileSync(buf, args, { cwd: root, stdio: "inherit" });
  } catch {
    console.error(`codegen: buf ${args[0]} failed${hint ? `: ${hint}` : ""}`);
    process.exit(1);
  }
};

run(["lint"]);
// The image without source info: only the contracts' shape matters to buf breaking.
if (flags["new-baseline"]) run(["build", "--exclude-source-info", "-o", BASELINE]);
// FILE rules (buf.yaml): what generated code and clients of any language depend on.
run(
  ["breaking", "--against", BASELINE],
  `proto/ is incompatible with the contracts in ${BASELINE} (above). Keep the change ` +
    "compatible (add fields and methods; reserve removed numbers and names), or put it in a " +
    "new version (shop.<service>.v2). To accept it deliberately: npm run codegen:baseline, " +
    `and commit ${BASELINE} with the change.`,
);
rmSync(join(root, "gen"), { recursive: true, force: true });
mkdirSync(join(root, "gen"));
run(["generate"]);
// The full image, imports and source comments included: reflection serves these bytes
// unchanged, so grpcurl sees well-known types and cross-file imports (grpc-node#3018).
run(["build", "--as-file-descriptor-set", "-o", "gen/descriptor-set.binpb"]);

// `--check` (CI): the committed gen/ must be exactly what the contracts generate.
if (flags.check) {
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
