import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { projectRoot } from "../mesh/config";
import { runProgram } from "./grpc-cli";

/**
 * Every program a user can start (the package.json scripts and the other mains) answers
 * `--help` with its usage and exit 0, and an unknown flag with exit 2 naming it, the usage on
 * stderr; in both cases before it does anything: no load run, no scenario, no file written.
 * The TypeScript ones run compiled (dist/, built by the tests' global set-up), as npm runs
 * them after its build step.
 */
const root = projectRoot();
const dist = (path: string): string[] => [join(root, "dist", path)];
const PROGRAMS: [string, string[]][] = [
  ["start:all", dist("scripts/start-all.js")],
  ["chaos", dist("scripts/chaos.js")],
  ["loadtest", dist("scripts/loadtest.js")],
  ["prometheus:config", dist("scripts/prometheus-config.js")],
  ["fuzz", dist("scripts/fuzz.js")],
  ["bench", dist("bench/main.js")],
  ["deploy:generate", dist("scripts/deploy/generate.js")],
  ["image:context", dist("scripts/deploy/image-context.js")],
  ["codegen", [join(root, "scripts", "codegen.mjs")]],
  ["grpc", dist("scripts/grpc.js")],
  ["telemetry-overhead", dist("scripts/telemetry-overhead.js")],
  ["echo-server", dist("bench/echo-server.js")],
  ["graph-server", dist("bench/graph-server.js")],
];
// Longer than any of them takes to print its usage; far shorter than a run (chaos: 30 s).
const QUICK_MS = 15_000;

/** Every file of the project (dependencies, build output and git aside) with its size and time. */
function tree(): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (![".git", "node_modules", "dist"].includes(entry.name)) walk(path);
      } else if (entry.isFile()) {
        const { size, mtimeMs } = statSync(path);
        files.set(relative(root, path), `${size} ${mtimeMs}`);
      }
    }
  };
  walk(root);
  return files;
}

/** The files added, removed or changed between two snapshots. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((p) => before.get(p) !== after.get(p)).sort();
}

describe("every script's command line", () => {
  jest.setTimeout(60_000);
  let dataDir: string;

  beforeEach(() => {
    // Where a script would put a mesh's data (certificates, stores) if it started one.
    dataDir = mkdtempSync(join(tmpdir(), "script-help-"));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const run = async (argv: string[], flag: string) => {
    const before = tree();
    const started = Date.now();
    const result = await runProgram(process.execPath, [...argv, flag], {
      env: { MESH_DATA_DIR: dataDir },
      timeoutMs: QUICK_MS,
    });
    return {
      ...result,
      ms: Date.now() - started,
      written: [...changes(before, tree()), ...readdirSync(dataDir)],
    };
  };

  it.each(PROGRAMS)(
    "%s --help prints its usage and exits 0, doing nothing else",
    async (_name, argv) => {
      const result = await run(argv, "--help");

      expect(result).toMatchObject({ code: 0, stderr: "", written: [] });
      expect(result.stdout).toMatch(/^usage: /);
      expect(result.stdout).toMatch(/\n {2}-h, -?-help +show this and exit\n/);
      expect(result.ms).toBeLessThan(QUICK_MS);
    },
  );

  it.each(PROGRAMS)(
    "%s --no-such-flag exits 2 naming the flag, with the usage on stderr, doing nothing else",
    async (_name, argv) => {
      const result = await run(argv, "--no-such-flag");

      expect(result).toMatchObject({ code: 2, stdout: "", written: [] });
      expect(result.stderr).toMatch(/^[\w:-]+: Unknown option '-?-no-such-flag'/);
      expect(result.stderr).toContain("\n\nusage: ");
    },
  );

  it("npm passes --help through to a script (npm run -s image:context -- --help)", async () => {
    const result = await runProgram("npm", ["run", "-s", "image:context", "--", "--help"]);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^usage: npm run image:context\n/);
  });
});
