/**
 * `npm run bench:login-flood -- [--flood 20s] [--baseline 10s] [--json]`: PlaceOrder through the REST
 * gateway while 16 clients flood it with wrong-password logins (issue 15's target: at least
 * 99% of orders succeed, their p99 stays under 2x the no-flood p99, and a login answers
 * normally within 1 s after the flood). The shop runs in this process on real SQLite files,
 * users hashing real-cost scrypt on its worker threads; all traffic goes to 127.0.0.1, the
 * flood from the source address 127.0.0.2, so that the per-address login limit sees an
 * attacker and not the shop's own users.
 */
import { Agent, request } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { startGatewayShop, type GatewayShop } from "../test/gateway-harness";
import { createHashWorkers } from "../services/users/hash-workers";
import { DEFAULT_SCRYPT } from "../services/users/passwords";

/** Options for {@link runLoginFlood}. */
export interface LoginFloodOptions {
  /** How long orders run alone first. Defaults to 10 s. */
  baselineMs?: number;
  /** How long the flood lasts. Defaults to 20 s. */
  floodMs?: number;
  /** Wrong-password clients, each one login at a time. Defaults to 16. */
  floodClients?: number;
  /** Orders in flight at once. Defaults to 2. */
  orderClients?: number;
  /** Where the flood comes from. Defaults to 127.0.0.2 (Linux routes all of 127/8 to lo). */
  floodAddress?: string;
}

/** Orders as a client saw them in one phase. */
export interface OrderPhase {
  sent: number;
  ok: number;
  successRate: number;
  p50Ms: number;
  p99Ms: number;
}

/** What {@link runLoginFlood} measured. */
export interface LoginFloodResult {
  baseline: OrderPhase;
  flood: OrderPhase;
  /** The flood's answers by HTTP status. */
  floodAnswers: Record<string, number>;
  /** From the flood's end to a correct login's answer (another account, the shop's address). */
  loginAfterFloodMs: number;
  loginAfterFloodStatus: number;
  /**
   * The median of a few correct logins before the flood: what a login costs on this machine
   * now (one scrypt hash), the yardstick for the login after the flood on a loaded machine.
   */
  loginBeforeFloodMs: number;
}

/** Correct logins timed before the flood; their median is {@link LoginFloodResult.loginBeforeFloodMs}. */
const LOGINS_BEFORE_FLOOD = 3;

const quantile = (sorted: number[], q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** One JSON request over keep-alive HTTP from `agent`'s source address: status and body. */
function post(
  agent: Agent,
  url: string,
  body: object,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(url, {
      method: "POST",
      agent,
      headers: {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(payload),
        ...headers,
      },
      timeout: 10_000,
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(payload);
  });
}

function phase(latencies: number[], sent: number): OrderPhase {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    sent,
    ok: latencies.length,
    successRate: sent === 0 ? 0 : latencies.length / sent,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
  };
}

/** Runs the shop, the baseline, the flood and the login after it; stops everything after. */
export async function runLoginFlood(options: LoginFloodOptions = {}): Promise<LoginFloodResult> {
  const baselineMs = options.baselineMs ?? 10_000;
  const floodMs = options.floodMs ?? 20_000;
  const floodClients = options.floodClients ?? 16;
  const orderClients = options.orderClients ?? 2;
  const dataDir = mkdtempSync(join(tmpdir(), "login-flood-"));
  const hashing = createHashWorkers();
  let env: GatewayShop | undefined;
  const agents: Agent[] = [];
  try {
    env = await startGatewayShop({
      dataDir,
      passwords: { scrypt: DEFAULT_SCRYPT, derive: hashing.derive },
    });
    const base = env.baseUrl;
    await env.shop.inventory.createProduct({
      sku: "sku-flood",
      name: "Flood mug",
      description: "",
      price: { currencyCode: "USD", units: 1, nanos: 0 },
      initialStock: 1_000_000,
    });
    const shopAgent = new Agent({ keepAlive: true, localAddress: "127.0.0.1" });
    const floodAgent = new Agent({
      keepAlive: true,
      localAddress: options.floodAddress ?? "127.0.0.2",
    });
    agents.push(shopAgent, floodAgent);
    const buyer = await post(shopAgent, `${base}/api/users`, {
      email: "buyer@example.com",
      displayName: "Buyer",
      password: "buyer-password",
    });
    const userId = (JSON.parse(buyer.body) as { user: { userId: string } }).user.userId;
    await post(shopAgent, `${base}/api/users`, {
      email: "victim@example.com",
      displayName: "Victim",
      password: "victim-password",
    });

    let orderSeq = 0;
    const runOrders = async (ms: number): Promise<OrderPhase> => {
      const latencies: number[] = [];
      let sent = 0;
      const until = performance.now() + ms;
      await Promise.all(
        Array.from({ length: orderClients }, async () => {
          while (performance.now() < until) {
            sent++;
            const started = performance.now();
            try {
              const answer = await post(
                shopAgent,
                `${base}/api/orders`,
                { userId, items: [{ sku: "sku-flood", quantity: 1 }] },
                { "idempotency-key": `flood-${process.pid}-${orderSeq++}` },
              );
              if (answer.status === 201) latencies.push(performance.now() - started);
            } catch {
              // A failed order counts as sent and not ok.
            }
          }
        }),
      );
      return phase(latencies, sent);
    };

    // Warm-up, then the baseline.
    await runOrders(1_000);
    const baseline = await runOrders(baselineMs);
    const loginTimes: number[] = [];
    for (let i = 0; i < LOGINS_BEFORE_FLOOD; i++) {
      const started = performance.now();
      await post(shopAgent, `${base}/api/login`, {
        email: "buyer@example.com",
        password: "buyer-password",
      });
      loginTimes.push(performance.now() - started);
    }
    const loginBeforeFloodMs = quantile(
      loginTimes.sort((a, b) => a - b),
      0.5,
    );

    const floodAnswers: Record<string, number> = {};
    let flooding = true;
    const flood = Promise.all(
      Array.from({ length: floodClients }, async () => {
        while (flooding) {
          try {
            const answer = await post(floodAgent, `${base}/api/login`, {
              email: "victim@example.com",
              password: "wrong-password",
            });
            floodAnswers[answer.status] = (floodAnswers[answer.status] ?? 0) + 1;
          } catch {
            floodAnswers.error = (floodAnswers.error ?? 0) + 1;
          }
        }
      }),
    );
    const during = await runOrders(floodMs);
    flooding = false;
    const floodEnded = performance.now();
    const login = await post(shopAgent, `${base}/api/login`, {
      email: "buyer@example.com",
      password: "buyer-password",
    });
    const loginAfterFloodMs = performance.now() - floodEnded;
    await flood;
    return {
      baseline,
      flood: during,
      floodAnswers,
      loginAfterFloodMs,
      loginAfterFloodStatus: login.status,
      loginBeforeFloodMs,
    };
  } finally {
    for (const agent of agents) agent.destroy();
    await env?.stop();
    await hashing.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The result as the report's lines. */
export function formatLoginFlood(result: LoginFloodResult): string {
  const row = (name: string, p: OrderPhase) =>
    `  ${name.padEnd(9)} ${String(p.sent).padStart(6)} sent  ${(p.successRate * 100).toFixed(2)}% ok  p50 ${p.p50Ms.toFixed(1)} ms  p99 ${p.p99Ms.toFixed(1)} ms`;
  const ratio = result.flood.p99Ms / result.baseline.p99Ms;
  return [
    "PlaceOrder through the gateway",
    row("no flood", result.baseline),
    row("flood", result.flood),
    `  p99 ratio ${ratio.toFixed(2)} (target < 2); success ${(result.flood.successRate * 100).toFixed(2)}% (target >= 99%)`,
    `Flood answers by status: ${JSON.stringify(result.floodAnswers)}`,
    `A correct login after the flood: ${result.loginAfterFloodStatus} in ${result.loginAfterFloodMs.toFixed(0)} ms (target < 1000 ms; before the flood ${result.loginBeforeFloodMs.toFixed(0)} ms)`,
  ].join("\n");
}

function seconds(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const match = /^(\d+(?:\.\d+)?)s?$/.exec(process.argv[i + 1] ?? "");
  if (!match)
    throw new Error(`--${name}: expected seconds such as 20s, got "${process.argv[i + 1]}"`);
  return Number(match[1]) * 1_000;
}

if (require.main === module) {
  const floodMs = seconds("flood", 20_000);
  const baselineMs = seconds("baseline", 10_000);
  console.log(
    `login flood: ${baselineMs / 1000} s of orders alone, then ${floodMs / 1000} s with 16 wrong-password clients…`,
  );
  runLoginFlood({ floodMs, baselineMs }).then(
    (result) => {
      console.log(formatLoginFlood(result));
      // For a test that runs this as its own process: the numbers, on one line.
      if (process.argv.includes("--json")) console.log(`RESULT ${JSON.stringify(result)}`);
    },
    (err: unknown) => {
      console.error("login flood failed:", err);
      process.exit(1);
    },
  );
}
