import { execFile } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { projectRoot } from "../../mesh/config";
import type { LoginFloodResult } from "../../bench/login-flood";

/** Runs the benchmark as its own process (as `npm run bench:login-flood` does), not in jest's. */
async function runFlood(args: string[]): Promise<LoginFloodResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", join("bench", "login-flood.ts"), ...args, "--json"],
    { cwd: projectRoot(), timeout: 90_000 },
  );
  console.log(stdout.split("\nRESULT ")[0]);
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`no result in:\n${stdout}`);
  return JSON.parse(line.slice("RESULT ".length)) as LoginFloodResult;
}

// The short form of `npm run bench:login-flood` (issue 15): a 6 s flood of 16 wrong-password
// clients instead of 20 s, against the shop on real SQLite files with real-cost scrypt.
describe("a login flood", () => {
  test("leaves PlaceOrder through the gateway working, and logins answering right after", async () => {
    const result = await runFlood(["--baseline", "4s", "--flood", "6s"]);

    expect(result.baseline.sent).toBeGreaterThan(10);
    expect(result.flood.successRate).toBeGreaterThanOrEqual(0.99);
    // The target is p99 under 2x the no-flood p99. A few hundred orders make a noisy p99, so
    // the no-flood one counts as at least 50 ms here; and on a machine already busier than its
    // cores (other jobs' load), latency says more about them than about the flood: then the
    // ratio is reported above, not asserted. `npm run bench:login-flood` is the full figure.
    const busy = loadavg()[0] > availableParallelism();
    if (busy) console.warn(`load average ${loadavg()[0].toFixed(1)}: p99 ratio not asserted`);
    else expect(result.flood.p99Ms).toBeLessThan(2 * Math.max(result.baseline.p99Ms, 50));
    expect(result.floodAnswers["429"]).toBeGreaterThan(0);
    expect(Object.keys(result.floodAnswers).sort()).toEqual(expect.arrayContaining(["401", "429"]));
    expect(
      Object.keys(result.floodAnswers).filter((code) => !["401", "429"].includes(code)),
    ).toEqual([]);
    expect(result.loginAfterFloodStatus).toBe(200);
    expect(result.loginAfterFloodMs).toBeLessThan(1_000);
  }, 120_000);
});
