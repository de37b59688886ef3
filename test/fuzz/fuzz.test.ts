import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DescMethod } from "@bufbuild/protobuf";
import { Metadata, status, type Client } from "@grpc/grpc-js";
import { seededRandom } from "../../mesh/api";
import { loadDescriptors } from "../../mesh/config";
import { rawCall, rawClient } from "../raw-call";
import { startShop, type TestShop } from "../shop";
import { fuzzBody, type CaseKind } from "./requests";

// FUZZ_SEED=… FUZZ_CASES=… replay a run; a failure names its case number.
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const CASES = Number(process.env.FUZZ_CASES ?? 10_000);
const CONCURRENCY = 16;
// Long enough for a server stream to open and be cut by its deadline.
const STREAM_DEADLINE_MS = 200;
const NEVER_FOR_BAD_INPUT = new Set<number>([status.INTERNAL, status.UNKNOWN]);

interface Target {
  path: string;
  method: DescMethod;
  client: Client;
}

interface Failure {
  caseNumber: number;
  path: string;
  kind: CaseKind;
  code: string;
  details: string;
}

/** Printable-ASCII noise for an authorization header (grpc-js refuses anything else). */
function garbageAuthorization(rng: () => number): string {
  const noise = Array.from({ length: Math.floor(rng() * 300) }, () =>
    String.fromCharCode(33 + Math.floor(rng() * 94)),
  ).join("");
  return [`Bearer ${noise}`, "Bearer", noise, `Bearer a.b.c`, `bearer ${noise}`][
    Math.floor(rng() * 5)
  ];
}

describe("fuzzing every method of every service", () => {
  jest.setTimeout(180_000);
  let shop: TestShop;
  let dataDir: string;
  let token: string;
  let targets: Target[];
  const clients: Client[] = [];
  const crashes: unknown[] = [];
  const onCrash = (err: unknown): void => void crashes.push(err);

  beforeAll(async () => {
    process.on("unhandledRejection", onCrash);
    process.on("uncaughtException", onCrash);
    dataDir = mkdtempSync(join(tmpdir(), "mesh-fuzz-"));
    // Real SQLite files, as the services run them.
    shop = await startShop({ dataDir });
    token = (await shop.signUp("fuzz@example.com")).token;
    await shop.inventory.createProduct({
      sku: "sku-espresso",
      name: "Espresso",
      description: "",
      price: { currencyCode: "USD", units: 18, nanos: 500_000_000 },
      initialStock: 1_000_000,
    });
    const services: [string, string][] = [
      ["shop.users.v1.UserService", shop.addresses.users],
      ["shop.users.v1.AuthService", shop.addresses.users],
      ["shop.inventory.v1.InventoryService", shop.addresses.inventory],
      ["shop.payments.v1.PaymentService", shop.addresses.payments],
      ["shop.orders.v1.OrderService", shop.addresses.orders],
      ["shop.notifications.v1.NotificationService", shop.addresses.notifications],
    ];
    targets = services.flatMap(([service, address]) => {
      const client = rawClient(address);
      clients.push(client);
      return loadDescriptors()
        .methods(service)
        .map((method) => ({ path: `/${service}/${method.name}`, method, client }));
    });
  });
  afterAll(async () => {
    process.off("unhandledRejection", onCrash);
    process.off("uncaughtException", onCrash);
    for (const client of clients) client.close();
    await shop.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`answers ${CASES} random and malformed requests without a crash, INTERNAL or UNKNOWN, and serves normally afterwards`, async () => {
    const histogram = new Map<string, number>();
    const failures: Failure[] = [];
    const perMethod = new Map<string, number>();

    /** Case n: its method (round robin), body and metadata all follow from the seed and n. */
    const runCase = async (n: number): Promise<void> => {
      const rng = seededRandom(SEED + n * 7_919);
      const target = targets[n % targets.length];
      const { kind, body } = fuzzBody(rng, target.method.input);
      const metadata = new Metadata();
      const auth = rng();
      if (auth < 0.15) metadata.set("authorization", `Bearer ${token}`);
      else if (auth < 0.3) metadata.set("authorization", garbageAuthorization(rng));
      const streaming = target.method.methodKind === "server_streaming";
      const outcome = await rawCall(target.client, target.path, body, {
        streaming,
        metadata,
        timeoutMs: streaming ? STREAM_DEADLINE_MS : 10_000,
      });
      const code = status[outcome.code];
      histogram.set(code, (histogram.get(code) ?? 0) + 1);
      perMethod.set(target.path, (perMethod.get(target.path) ?? 0) + 1);
      if (NEVER_FOR_BAD_INPUT.has(outcome.code)) {
        failures.push({ caseNumber: n, path: target.path, kind, code, details: outcome.details });
      }
    };

    const started = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CASES) await runCase(next++);
      }),
    );
    const seconds = (Date.now() - started) / 1000;

    const codes = [...histogram].sort((a, b) => b[1] - a[1]);
    process.stdout.write(
      `fuzz: ${CASES} cases over ${targets.length} methods (seed ${SEED}) in ${seconds.toFixed(1)} s\n` +
        codes.map(([code, count]) => `  ${code.padEnd(20)} ${count}`).join("\n") +
        "\n",
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(crashes).toEqual([]);
    // Every method of every service got its share.
    expect([...perMethod.keys()].sort()).toEqual(targets.map((t) => t.path).sort());
    expect(Math.min(...perMethod.values())).toBeGreaterThanOrEqual(
      Math.floor(CASES / targets.length),
    );

    // Afterwards, every service still serves a normal request.
    const asUser = { metadata: new Metadata() };
    asUser.metadata.set("authorization", `Bearer ${token}`);
    const credentials = { email: "fuzz@example.com", password: "correct horse battery" };
    // The fuzz's failed logins came from this address too: users limits them per address
    // (services/users/login-guard.ts) and says when to come back; a client that listens gets in.
    const login = await shop.auth.login(credentials).catch(async (err: unknown) => {
      const retryAfter = (err as { metadata?: Metadata }).metadata?.get("retry-after")[0];
      if (!retryAfter) throw err;
      await new Promise((resolve) => setTimeout(resolve, Number(retryAfter) * 1_000));
      return shop.auth.login(credentials);
    });
    expect(login.tokenType).toBe("Bearer");
    expect((await shop.users.getUser({ userId: login.userId }, asUser)).user?.email).toBe(
      "fuzz@example.com",
    );
    expect((await shop.inventory.getProduct({ sku: "sku-espresso" })).product?.sku).toBe(
      "sku-espresso",
    );
    const { order } = await shop.orders.placeOrder(
      {
        requestId: `after-fuzz-${SEED}`,
        userId: "",
        items: [{ sku: "sku-espresso", quantity: 1 }],
        paymentMethod: "",
      },
      asUser,
    );
    expect(order?.paymentId).toMatch(/^pay_/);
    expect(
      (await shop.payments.getPayment({ paymentId: order?.paymentId ?? "" }, asUser)).payment
        ?.orderId,
    ).toBe(order?.orderId);
    expect(
      (
        await shop.notifications.listNotifications(
          { userId: "", pageSize: 0, pageToken: "" },
          asUser,
        )
      ).notifications,
    ).toBeDefined();
  });
});
