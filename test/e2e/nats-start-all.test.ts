import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import knex from "knex";
import { connect } from "nats";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer } from "../../mesh";
import { projectRoot } from "../../mesh/config";
import { shopServices } from "../../scripts/members";
import { eventStreamName } from "../../services/common/nats/jetstream";
import { projectPolicy } from "../support";
import { natsServerAvailable, startNatsServer, type TestNatsServer } from "../nats-server";
import { freeInstancePorts, operatorDial, startAll } from "./processes";

const STARTUP_MS = 60_000;
// The services of mesh.yaml, each after those it depends on.
const NAMES = shopServices();
const describeNats = natsServerAvailable() ? describe : describe.skip;

describeNats("npm run start:all with EVENTS_TRANSPORT=nats (a real nats-server)", () => {
  jest.setTimeout(120_000);
  let nats: TestNatsServer;
  let dataDir: string;

  beforeEach(async () => {
    nats = await startNatsServer();
    dataDir = mkdtempSync(join(tmpdir(), "mesh-nats-e2e-"));
  });
  afterEach(async () => {
    await nats.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("carries orders through JetStream to one notification each, and stops cleanly", async () => {
    const ports = await freeInstancePorts(NAMES.length, 100);
    const env: NodeJS.ProcessEnv = {
      MESH_DATA_DIR: dataDir,
      EVENTS_TRANSPORT: "nats",
      NATS_URL: nats.url,
    };
    NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(ports[i])));
    const run = startAll(projectRoot(), env);
    const db = knex({
      client: "sqlite3",
      connection: { filename: join(dataDir, "notifications.sqlite") },
      useNullAsDefault: true,
    });
    const nc = await connect({ servers: nats.url });
    // As the operator, with the certificates start:all makes.
    const peer = <S extends Parameters<typeof createPeer>[0]>(
      definition: S,
      port: number,
      service: string,
    ) =>
      createPeer(definition, {
        target: `127.0.0.1:${port}`,
        policy: projectPolicy(),
        ...operatorDial(dataDir, service),
      });
    const opened: { close(): void }[] = [];
    try {
      await run.waitFor("Press Ctrl-C", STARTUP_MS);
      const users = peer(UserServiceService, ports[0], "users");
      const orders = peer(OrderServiceService, ports[3], "orders");
      opened.push(users, orders);
      const { user } = await users.createUser({ email: "nats@example.com", displayName: "N" });
      const order = (requestId: string, quantity: number) =>
        orders
          .placeOrder({
            requestId,
            userId: user!.userId,
            items: [{ sku: "sku-kettle", quantity }],
            paymentMethod: "",
          })
          .catch(() => undefined);
      // One confirmed, one rejected for want of stock (as start:all's demo commands do).
      await order("nats-1", 1);
      await order("nats-2", 1_000);
      const jsm = await nc.jetstreamManager();
      const messages = async (producer: string): Promise<number> =>
        (await jsm.streams.info(eventStreamName(producer))).state.messages;
      const give = Date.now() + 30_000;
      let notified = 0;
      while (Date.now() < give) {
        [{ n: notified }] = (await db("notifications").count({ n: "*" })) as [{ n: number }];
        if (notified >= 2) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }

      expect(notified).toBe(2);
      expect(await messages("orders")).toBe(2);
      // The confirmed order was charged: one PaymentCaptured.
      expect(await messages("payments")).toBe(1);
    } finally {
      for (const p of opened) p.close();
      await nc.close();
      await db.destroy();
      run.child.kill("SIGINT");
    }
    expect((await run.exited).code).toBe(0);
  });
});
