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
const FLOOD_SECONDS = 6;
// The victim account's allowance of failed logins (login-guard.ts): 5 at once, then 5 a minute.
const ACCOUNT_BURST = 5;
const ACCOUNT_PER_MINUTE = 5;
// What a login after the flood may wait for, in logins' time: the hash a worker is running,
// one the account's refill let in, then its own (queued hashes of expired calls are dropped).
const LOGINS_AHEAD_AND_OWN = 3;

describe("a login flood", () => {
  test("leaves PlaceOrder through the gateway working, and logins answering right after", async () => {
    const result = await runFlood(["--baseline", "4s", "--flood", `${FLOOD_SECONDS}s`]);
    // On a machine already busier than its cores (other jobs' load), latency says more about
    // them than about the flood.
    const busy = loadavg()[0] > availableParallelism();

    expect(result.baseline.sent).toBeGreaterThan(10);
    expect(result.flood.successRate).toBeGreaterThanOrEqual(0.99);
    // The target is p99 under 2x the no-flood p99. A few hundred orders make a noisy p99, so
    // the no-flood one counts as at least 50 ms here; on a busy machine the ratio is reported
    // above, not asserted. `npm run bench:login-flood` is the full figure.
    if (busy) console.warn(`load average ${loadavg()[0].toFixed(1)}: p99 ratio not asserted`);
    else expect(result.flood.p99Ms).toBeLessThan(2 * Math.max(result.baseline.p99Ms, 50));

    // The guard refuses the flood before any hash: only the account's allowance reaches scrypt
    // (401, or 504 when a hash queued behind the others outlives its deadline, which only a
    // machine busier than its cores makes that slow); everything else is 429.
    const answers = result.floodAnswers;
    const allowed = busy ? ["401", "429", "504"] : ["401", "429"];
    expect(Object.keys(answers).filter((code) => !allowed.includes(code))).toEqual([]);
    expect(answers["429"]).toBeGreaterThan(0);
    const hashed = (answers["401"] ?? 0) + (answers["504"] ?? 0);
    expect(hashed).toBeGreaterThan(0);
    expect(hashed).toBeLessThanOrEqual(
      ACCOUNT_BURST + Math.ceil((FLOOD_SECONDS / 60) * ACCOUNT_PER_MINUTE),
    );

    // Issue 15's target is a normal login within 1 s after the flood. Where one login costs
    // more than a third of that (a loaded machine: measured before the flood, the median of
    // three), the budget is what the login can have ahead of it, in logins.
    expect(result.loginAfterFloodStatus).toBe(200);
    expect(result.loginAfterFloodMs).toBeLessThan(
      Math.max(1_000, LOGINS_AHEAD_AND_OWN * result.loginBeforeFloodMs),
    );
  }, 120_000);
});
