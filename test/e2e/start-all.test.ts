import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { OrderServiceService, OrderStatus } from "../../gen/shop/orders/v1/orders";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { PaymentServiceService, PaymentStatus } from "../../gen/shop/payments/v1/payments";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer } from "../../mesh";
import { projectRoot } from "../../mesh/config";
import { shopServices } from "../../scripts/members";
import { checkHealth, waitForServing } from "../../scripts/health-wait";
import { printedStatus, runInShell } from "../grpc-cli";
import { toolAvailable } from "../external-tools";
import { projectPolicy } from "../support";
import {
  commandLine,
  freeInstancePorts,
  freeGatewayEnv,
  operatorDial,
  pidsWithEnv,
  startAll,
  type StartAll,
} from "./processes";

const STARTUP_MS = 60_000;
// The services of mesh.yaml, each after those it depends on.
const NAMES = shopServices();

/** start:all on free ports and a fresh data folder, so it never meets a developer's mesh. */
async function launch(
  dataDir: string,
  ports?: number[],
  args: string[] = [],
): Promise<{ run: StartAll; ports: number[] }> {
  // mesh.yaml runs two instances of inventory, payments and orders, the second 100 ports up.
  const chosen = ports ?? (await freeInstancePorts(NAMES.length, 100));
  const gateway = await freeGatewayEnv();
  // The printed file names are relative to where the user typed the command (npm's INIT_CWD);
  // the commands run from the project root here.
  const env: NodeJS.ProcessEnv = {
    MESH_DATA_DIR: dataDir,
    ...gateway,
    INIT_CWD: projectRoot(),
  };
  NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(chosen[i])));
  const run = startAll(projectRoot(), env, args);
  await run.waitFor("Press Ctrl-C", STARTUP_MS);
  return { run, ports: chosen };
}

/** grpcurl's JSON output, for the fields these tests read. */
interface Printed {
  user: { userId: string };
  products: unknown[];
  order: { orderId: string; status: string };
  product: Record<string, unknown>;
  orders: unknown[];
  notifications?: { title: string }[];
}
const json = (output: string): Printed => JSON.parse(output) as Printed;

/** How the operator start:all made in `dataDir` dials `service`, as the tests call the mesh. */

// The printed commands: grpcurl calls and the login line that sets $TOKEN for the rest.
const printedCommands = (output: string): string[] =>
  output
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith("grpcurl ") || line.startsWith("TOKEN=$(grpcurl "));
// An access token (a JWT) anywhere in a text: three base64url parts, the first a JSON header.
const JWT = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;

// The printed login line pipes Login's answer through jq, as a user's terminal does.
const hasJq = toolAvailable(
  (() => {
    try {
      execFileSync("jq", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })(),
  "jq (start:all's printed login line uses it)",
  "jq",
);

describe("npm run start:all, as a user runs it", () => {
  jest.setTimeout(120_000);
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), "mesh-e2e-"));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  (hasJq ? it : it.skip).each([
    ["mTLS (the default)", []],
    ["plaintext (--plaintext)", ["--plaintext"]],
  ])(
    "in %s, serves every service as its own process, and every printed grpcurl command works as printed",
    async (_mode, args: string[]) => {
      const { run, ports } = await launch(dataDir, undefined, args);
      try {
        const plaintext = args.length > 0;
        expect(run.output().includes("PLAINTEXT MODE")).toBe(plaintext);
        for (const [i, name] of NAMES.entries()) {
          expect(run.output()).toMatch(
            new RegExp(`${name}(-1)?\\s+127\\.0\\.0\\.1:${ports[i]}\\s+SERVING`),
          );
        }
        // inventory, payments and orders run a second instance (-2), 100 ports up.
        for (const i of [1, 2, 3]) {
          expect(run.output()).toMatch(
            new RegExp(`${NAMES[i]}-2\\s+127\\.0\\.0\\.1:${ports[i] + 100}\\s+SERVING`),
          );
        }
        expect(run.output()).toContain("`npm run -s grpc --` in place of `grpcurl`");
        const commands = printedCommands(run.output());
        expect(commands).toHaveLength(10);
        // No live credential in output that users redirect to log files (issue 16): the user
        // calls read the demo user's token from $TOKEN, which the login line sets.
        expect(run.output()).not.toMatch(JWT);
        const login = commands[4];
        expect(login).toMatch(
          /^TOKEN=\$\(grpcurl .* shop\.users\.v1\.AuthService\/Login \| jq -r \.accessToken\)$/,
        );
        for (const i of [5, 7, 8, 9]) {
          expect(commands[i]).toContain('-H "authorization: Bearer $TOKEN"');
        }
        for (const command of commands) {
          const call = command.replace(/^TOKEN=\$\(/, "");
          if (plaintext) expect(call).toMatch(/^grpcurl -plaintext /);
          else
            expect(call).toMatch(/^grpcurl -cacert \S+ca\.crt -cert \S+operator-admin\.crt -key /);
        }

        // Each command as pasted into bash after the login line (one terminal's session), with
        // the shipped `npm run grpc` as grpcurl.
        const inSession = (command: string) =>
          runInShell(command === login ? `${login}\necho "$TOKEN"` : `${login}\n${command}`);
        const results = [];
        for (const command of commands) results.push(await inSession(command));

        const [list, describe, createUser, listProducts, token, order, product, overStock] =
          results;
        const listOrders = results[8];
        expect(list.stdout.split("\n")).toContain("shop.orders.v1.OrderService");
        expect(describe.stdout).toContain(
          "rpc PlaceOrder ( .shop.orders.v1.PlaceOrderRequest ) returns ( .shop.orders.v1.PlaceOrderResponse )",
        );
        expect(json(createUser.stdout).user.userId).toMatch(/^usr_/);
        expect(json(listProducts.stdout).products).toHaveLength(4);
        expect(json(order.stdout).order.status).toBe("ORDER_STATUS_CONFIRMED");
        expect(json(product.stdout).product).toMatchObject({
          sku: "sku-espresso",
          available: 98,
          reserved: 2,
        });
        // The login line set a real token (printed here by the test's own echo only).
        expect(token.stdout.trim()).toMatch(new RegExp(`^${JWT.source}$`));
        expect(overStock.code).toBe(64 + status.FAILED_PRECONDITION);
        expect(printedStatus(overStock.stderr)).toEqual({
          code: "FailedPrecondition",
          message: "not enough stock for sku-kettle: 3 available, 5 requested",
        });
        for (const [i, result] of results.entries())
          if (i !== 7)
            expect({ command: commands[i], ...result }).toMatchObject({ code: 0, stderr: "" });
        expect(json(listOrders.stdout).orders).toHaveLength(2);
        // Notifications arrive through the event stream, a moment after the orders ended.
        let notified = json(results[9].stdout).notifications ?? [];
        for (let i = 0; i < 50 && notified.length < 2; i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          notified = json((await inSession(commands[9])).stdout).notifications ?? [];
        }
        expect(notified.map((n) => n.title).sort()).toEqual([
          "Your order is confirmed",
          "Your order was not accepted",
        ]);
        // A replayed request_id returns the first order.
        expect(json((await inSession(commands[5])).stdout).order.orderId).toBe(
          json(order.stdout).order.orderId,
        );
        // Without grpcurl, as printed: `npm run -s grpc --` in its place, through npm itself.
        const viaNpm = await runInShell(commands[1].replace(/^grpcurl /, "npm run -s grpc -- "));
        expect(viaNpm).toEqual({ code: 0, stdout: describe.stdout, stderr: "" });
        // The gateway, started last, serves the same data over REST.
        const gateway = /REST API: (http:\/\/\S+)\/api\/products/.exec(run.output())?.[1];
        const products = (await (await fetch(`${gateway}/api/products/sku-espresso`)).json()) as {
          product: { available: number };
        };
        expect(products.product.available).toBe(98);
      } finally {
        run.child.kill("SIGINT");
        await run.exited;
      }
    },
  );

  it("confirms exactly the stock's worth of parallel orders across processes, one charge each", async () => {
    const { run, ports } = await launch(dataDir);
    const policy = projectPolicy();
    const at = (i: number) => ({
      target: `127.0.0.1:${ports[i]}`,
      policy,
      ...operatorDial(dataDir, NAMES[i]),
    });
    const users = createPeer(UserServiceService, at(0));
    const inventory = createPeer(InventoryServiceService, at(1));
    const payments = createPeer(PaymentServiceService, at(2));
    const orders = createPeer(OrderServiceService, at(3));
    try {
      const userId = (await users.listUsers({ pageSize: 1, pageToken: "" })).users[0].userId;
      const place = (i: number) =>
        orders.placeOrder({
          requestId: `grinder-${i}`,
          userId,
          items: [{ sku: "sku-grinder", quantity: 1 }],
          paymentMethod: "",
        });

      const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => place(i)));

      const confirmed = results.flatMap((r) => (r.status === "fulfilled" ? [r.value.order!] : []));
      const refused = results.flatMap((r) =>
        r.status === "rejected" ? [(r.reason as { code: number }).code] : [],
      );
      expect(confirmed).toHaveLength(10);
      expect(refused).toEqual(Array(15).fill(status.FAILED_PRECONDITION));
      expect((await inventory.getProduct({ sku: "sku-grinder" })).product).toMatchObject({
        available: 0,
        reserved: 10,
      });
      const charged = (
        await payments.listPayments({ orderId: "", userId, pageSize: 100, pageToken: "" })
      ).payments;
      expect(
        charged
          .filter((p) => p.status === PaymentStatus.PAYMENT_STATUS_CAPTURED)
          .map((p) => p.orderId)
          .sort(),
      ).toEqual(confirmed.map((o) => o.orderId).sort());
      expect(confirmed.every((o) => o.status === OrderStatus.ORDER_STATUS_CONFIRMED)).toBe(true);

      const unknownUser = await orders
        .placeOrder({
          requestId: "ghost",
          userId: "usr_ghost",
          items: [{ sku: "sku-mug", quantity: 1 }],
          paymentMethod: "",
        })
        .catch((err: { code: number }) => err);
      expect((unknownUser as { code: number }).code).toBe(status.NOT_FOUND);
      expect((await inventory.getProduct({ sku: "sku-mug" })).product!.available).toBe(50);
    } finally {
      for (const peer of [users, inventory, payments, orders]) peer.close();
      run.child.kill("SIGINT");
      await run.exited;
    }
  });

  it("stops every service on Ctrl-C within a few seconds, and keeps the data for the next start", async () => {
    const { run, ports } = await launch(dataDir);
    const started = Date.now();
    run.child.kill("SIGINT");
    const { code } = await run.exited;

    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.output()).toContain("All services stopped.");
    expect(pidsWithEnv("MESH_DATA_DIR", dataDir)).toEqual([]);
    for (const port of [...ports, ports[1] + 100, ports[2] + 100, ports[3] + 100])
      expect(await checkHealth(`127.0.0.1:${port}`, 500)).toBe("UNREACHABLE");

    const again = await launch(dataDir, ports);
    expect(again.run.output()).toContain("Demo data was already there.");
    again.run.child.kill("SIGINT");
    await again.run.exited;
  });

  it("restarts an instance that dies while the rest keep serving, and Ctrl-C still leaves nothing behind", async () => {
    const { run, ports } = await launch(dataDir);
    const pid = pidsWithEnv("MESH_DATA_DIR", dataDir).find((p) =>
      commandLine(p).includes("payments/main.js"),
    );
    expect(pid).toBeDefined();

    process.kill(pid as number, "SIGKILL");
    await run.waitFor("exited unexpectedly (SIGKILL); restarting it in 0.", 5_000);
    await run.waitFor("Press Ctrl-C", 1_000);
    const killed = /(payments-\d) exited unexpectedly/.exec(run.output())?.[1] as string;
    const port = killed === "payments-1" ? ports[2] : ports[2] + 100;
    await waitForServing(`127.0.0.1:${port}`, 10_000, undefined, operatorDial(dataDir, "payments"));
    run.child.kill("SIGINT");
    const { code } = await run.exited;

    expect(code).toBe(0);
    expect(pidsWithEnv("MESH_DATA_DIR", dataDir)).toEqual([]);
  });

  it("reports a member that keeps crashing loudly, and keeps every other member serving", async () => {
    const { run, ports } = await launch(dataDir);
    const paymentsOne = (): number | undefined => {
      const ofInstance = new Set(pidsWithEnv("MESH_INSTANCE", "0"));
      return pidsWithEnv("MESH_DATA_DIR", dataDir).find(
        (p) => ofInstance.has(p) && commandLine(p).includes("payments/main.js"),
      );
    };
    const dial = operatorDial(dataDir, "payments");
    try {
      // Four crashes within a minute: each time it comes back, it is killed again.
      for (let crash = 0; crash < 4; crash++) {
        await waitForServing(`127.0.0.1:${ports[2]}`, 20_000, undefined, dial);
        process.kill(paymentsOne() as number, "SIGKILL");
        const exits = () =>
          run.output().split("payments-1 exited unexpectedly (SIGKILL)").length - 1;
        for (const giveUp = Date.now() + 5_000; exits() <= crash && Date.now() < giveUp;) {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(exits()).toBe(crash + 1);
      }
      await run.waitFor("!!! payments-1 IS CRASH-LOOPING: 4 crashes within 60 s.", 5_000);

      const url = /Supervisor \(restarts, crash loops\): (\S+)/.exec(run.output())?.[1];
      const metrics = await (await fetch(url as string)).text();
      expect(metrics).toContain('mesh_supervisor_crash_looping{member="payments-1"} 1');
      expect(metrics).toContain('mesh_supervisor_crash_looping{member="payments-2"} 0');
      // Nobody else was stopped, and payments-1 itself comes back once more.
      const others = [
        ...ports.map((port, i) => ({ port, name: NAMES[i] })),
        ...[1, 2, 3].map((i) => ({ port: ports[i] + 100, name: NAMES[i] })),
      ].filter(({ port }) => port !== ports[2]);
      for (const { port, name } of others) {
        expect(await checkHealth(`127.0.0.1:${port}`, 2_000, operatorDial(dataDir, name))).toBe(
          "SERVING",
        );
      }
      await waitForServing(`127.0.0.1:${ports[2]}`, 20_000, undefined, dial);
      expect(run.child.exitCode).toBeNull();
    } finally {
      run.child.kill("SIGINT");
      await run.exited;
    }
  });

  it("stops the mesh and exits 1 when a service cannot start, leaving no process behind", async () => {
    const env: NodeJS.ProcessEnv = {
      MESH_DATA_DIR: dataDir,
      PAYMENTS_STORE: "/etc/passwd/payments.sqlite",
    };
    const ports = await freeInstancePorts(NAMES.length, 100);
    NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(ports[i])));

    const run = startAll(projectRoot(), env);
    const { code } = await run.exited;

    expect(code).toBe(1);
    expect(run.output()).toMatch(/payments-\d exited unexpectedly \(code 1\); stopping the mesh\./);
    expect(run.output()).toContain("All services stopped.");
    expect(pidsWithEnv("MESH_DATA_DIR", dataDir)).toEqual([]);
  });
});
