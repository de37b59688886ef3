/**
 * A benchmark process of npm run bench (section d): `node dist/bench/store-child.js '<config
 * JSON>'` runs the store write paths in a process of their own and prints `RESULT <section
 * JSON>` on stdout. Section d compares the store's write path with node-sqlite3 alone in one
 * process, and what the suite's earlier sections leave in the suite's process (their heap,
 * telemetry's GC observers, compiled code) taxes the path that allocates more
 * (docs/BENCHMARKS.md, round 14).
 */
import type { BenchConfig } from "./config";
import { exitWithParent } from "./child";
import { runStore, STORE_RESULT } from "./store-writes";
import { readFlags, usageError } from "../scripts/cli";

const SCRIPT = {
  name: "store-child",
  usage: `usage: node dist/bench/store-child.js '<config as JSON>'

A process of npm run bench (section d): runs the store write paths with the suite's config
(bench/config.ts, as JSON) and prints RESULT and the section as JSON on one line.

  -h, --help          show this and exit`,
  options: {},
  positionals: true,
} as const;

async function main(): Promise<void> {
  const { positionals } = readFlags(SCRIPT);
  if (positionals.length !== 1) usageError(SCRIPT, "expected the config as one JSON argument");
  let config: BenchConfig;
  try {
    config = JSON.parse(positionals[0]) as BenchConfig;
  } catch (err) {
    usageError(
      SCRIPT,
      `the config is not JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  exitWithParent();
  const section = await runStore(config);
  process.stdout.write(`${STORE_RESULT}${JSON.stringify(section)}\n`);
  process.exit(0);
}

main().catch((err: unknown) => {
  console.error("store-child failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
