import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * The end-to-end tests run the compiled services as separate processes, as start:all does,
 * so the tree is built first, as start:all builds it (scripts/build-if-stale.mjs: nothing to
 * do in a fraction of a second when no source changed). Type errors are `npm run
 * typecheck`'s to report: tsc still emits, and a test that needs what failed to compile fails
 * by itself, so a type error elsewhere does not stop every test from running.
 */
export default function globalSetup(): void {
  const root = join(__dirname, "..");
  try {
    // npm run build when a source changed (scripts/build-if-stale.mjs): tsc, then the outputs
    // of sources that are gone are removed (scripts/build.mjs).
    execFileSync(process.execPath, [join(root, "scripts", "build-if-stale.mjs")], {
      cwd: root,
      stdio: "pipe",
    });
  } catch (err) {
    const output = String((err as { stdout?: Buffer }).stdout ?? "").slice(0, 2_000);
    console.warn(
      `\nbuild for the end-to-end tests reported type errors (npm run typecheck):\n${output}`,
    );
  }
}
