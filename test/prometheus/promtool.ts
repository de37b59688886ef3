import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { toolAvailable } from "../external-tools";

/** Where Debian's `prometheus` package puts its binaries. */
export const PROMTOOL = "/usr/bin/promtool";
export const PROMETHEUS = "/usr/bin/prometheus";

/**
 * Whether `binary` is installed. Missing on CI is a failure (CI installs the package, see
 * .ci/apt-packages.d/telemetry.txt); elsewhere the test says what to install and is skipped.
 */
export function installed(binary: string): boolean {
  return toolAvailable(existsSync(binary), binary, "prometheus");
}

/** Runs promtool, returning its output; a non-zero exit throws with the output in the message. */
export function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync(PROMTOOL, args, { cwd, encoding: "utf8", stdio: "pipe" });
  } catch (err) {
    const { stdout = "", stderr = "" } = err as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(" ")} failed:\n${stdout}${stderr}`);
  }
}
