import { execFileSync } from "node:child_process";
import { join } from "node:path";

/**
 * The end-to-end tests run the compiled services as separate processes, as start:all does,
 * so the tree is built first (incremental: about a second when nothing changed).
 */
export default function globalSetup(): void {
  const root = join(__dirname, "..");
  execFileSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    {
      cwd: root,
      stdio: "inherit",
    },
  );
}
