/**
 * `node dist/scripts/telemetry-overhead.js [--calls N] [--concurrency N]`: what telemetry costs per
 * unary call, in process (server and client on 127.0.0.1): the same calls without telemetry,
 * with metrics and spans, and with store-query parenting on (AsyncLocalStorage) too. It
 * reports CPU time per call (client and server together), which a loaded machine disturbs
 * far less than calls per second; rounds alternate, and medians are compared.
 */
import { UserServiceService } from "../gen/shop/users/v1/users";
import {
  createMeshServer,
  createPeer,
  loadTopology,
  silentLogger,
  StatusError,
  type ServiceHandlers,
} from "../mesh";
import { createTelemetry } from "../mesh/telemetry";
import { positiveNumber, readFlags } from "./cli";

const SCRIPT = {
  name: "telemetry-overhead",
  usage: `usage: node dist/scripts/telemetry-overhead.js [--calls N] [--concurrency N]

Measures what telemetry costs per unary call, in process: CPU time per call without
telemetry, with metrics and spans, and with store-query parenting too (medians of 5 rounds).

  --calls N           unary calls per round (default 20000)
  --concurrency N     calls in flight (default 32)
  -h, --help          show this and exit`,
  options: { calls: { type: "string" }, concurrency: { type: "string" } },
} as const;

type Variant = "off" | "metrics+spans" | "metrics+spans+store parenting";
const VARIANTS: Variant[] = ["off", "metrics+spans", "metrics+spans+store parenting"];
const ROUNDS = 5;
const USER = { userId: "usr_1", email: "a@example.com", displayName: "A", createTime: new Date(0) };

const unimplemented = (): Promise<never> => Promise.reject(new StatusError(12, "stub"));
const handlers: ServiceHandlers<typeof UserServiceService> = {
  createUser: unimplemented,
  listUsers: unimplemented,
  getUser: () => Promise.resolve({ user: USER }),
};

/** CPU microseconds per call for `calls` GetUser calls, `concurrency` at a time. */
async function run(variant: Variant, calls: number, concurrency: number): Promise<number> {
  const log = silentLogger();
  const telemetry =
    variant === "off"
      ? undefined
      : createTelemetry({
          service: "users",
          member: "users-1",
          log,
          storeSpans: variant !== "metrics+spans",
        });
  const caller =
    variant === "off" ? undefined : createTelemetry({ service: "orders", member: "orders-1", log });
  const server = createMeshServer({ log, telemetry });
  server.addService(UserServiceService, handlers);
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  const peer = createPeer(UserServiceService, {
    target: `127.0.0.1:${port}`,
    policy: loadTopology({}).policy,
    telemetry: caller,
  });
  await peer.getUser({ userId: "usr_1" });
  let next = 0;
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < calls) await peer.getUser({ userId: "usr_1" });
    }),
  );
  const used = process.cpuUsage(cpu);
  peer.close();
  await server.shutdown(100);
  return (used.user + used.system) / calls;
}

async function main(): Promise<void> {
  const { values } = readFlags(SCRIPT);
  const calls = Math.round(positiveNumber(SCRIPT, "calls", values.calls, 20_000));
  const concurrency = Math.round(positiveNumber(SCRIPT, "concurrency", values.concurrency, 32));
  const results = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of VARIANTS)
      results.get(variant)?.push(await run(variant, calls, concurrency));
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results.get("off") ?? []);
  console.log(`${calls} unary calls, ${concurrency} at a time, median of ${ROUNDS} rounds`);
  for (const [variant, costs] of results) {
    const cost = median(costs);
    console.log(
      `${variant.padEnd(32)} ${cost.toFixed(1)} µs CPU/call  (+${(cost - base).toFixed(1)} µs, ` +
        `throughput at most ${(base / cost).toFixed(3)}× when CPU-bound)`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
