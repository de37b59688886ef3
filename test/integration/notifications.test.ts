import { seededRandom } from "../../mesh/api";
import { Client, credentials, Metadata, status } from "@grpc/grpc-js";
import {
  NotificationKind,
  NotificationServiceService,
  type Notification,
} from "../../gen/shop/notifications/v1/notifications";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { createOrdersConsumer, type OrdersConsumer } from "../../services/notifications/consumer";
import { migrations } from "../../services/notifications/migrations";
import { createNotificationsService } from "../../services/notifications/service";
import { createNotificationsStore } from "../../services/notifications/store";
import { startShop, type TestShop } from "../shop";
import { projectPolicy, rejectionOf, startTestServer, type TestServer } from "../support";

/** Resolves once `check` holds, polling; fails the test after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const give = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > give) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The notifications service on its own store, served over gRPC, with its peer. */
async function startNotifications(): Promise<{
  peer: Peer<typeof NotificationServiceService>;
  server: TestServer;
  store: Store;
}> {
  const store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
  const service = createNotificationsService({ store: createNotificationsStore(store) });
  const server = await startTestServer((s) => s.addService(NotificationServiceService, service));
  const peer = createPeer(NotificationServiceService, {
    target: server.address,
    policy: projectPolicy(),
  });
  return { peer, server, store };
}

describe("notifications of orders, through the orders event stream", () => {
  let shop: TestShop;
  let notifications: Awaited<ReturnType<typeof startNotifications>>;
  let consumer: OrdersConsumer;
  let userId: string;
  let seq = 0;
  const requestId = (): string => `req-${++seq}`;

  beforeEach(async () => {
    shop = await startShop();
    notifications = await startNotifications();
    consumer = createOrdersConsumer({
      store: createNotificationsStore(notifications.store),
      orders: shop.orders,
      log: silentLogger(),
      ackEveryMs: 100,
    });
    consumer.start();
    userId = (await shop.users.createUser({ email: "ada@example.com", displayName: "Ada" })).user!
      .userId;
    for (const [sku, units, stock] of [
      ["sku-beans", 18, 10],
      ["sku-mug", 9, 10],
    ] as const) {
      await shop.inventory.createProduct({
        sku,
        name: sku,
        description: "",
        price: { currencyCode: "USD", units, nanos: 500_000_000 },
        initialStock: stock,
      });
    }
  });
  afterEach(async () => {
    // The consumer first: its stream would otherwise hold up the orders server's shutdown.
    await consumer.stop();
    notifications.peer.close();
    await notifications.server.close();
    await notifications.store.close();
    await shop.stop();
  });

  const listed = async (): Promise<Notification[]> =>
    (await notifications.peer.listNotifications({ userId, pageSize: 0, pageToken: "" }))
      .notifications;
  const placeBeansAndMug = (request = requestId(), paymentMethod = "") =>
    shop.orders.placeOrder({
      requestId: request,
      userId,
      items: [
        { sku: "sku-beans", quantity: 2 },
        { sku: "sku-mug", quantity: 1 },
      ],
      paymentMethod,
    });

  it("tells the customer about a confirmed order with its item count and total", async () => {
    const { order } = await placeBeansAndMug();

    await until(async () => (await listed()).length === 1);

    const [notification] = await listed();
    expect(notification).toMatchObject({
      userId,
      orderId: order!.orderId,
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED,
      title: "Your order is confirmed",
      body: `Order ${order!.orderId} is confirmed: 3 items, 46.50 USD charged. Thank you!`,
    });
    expect(notification.eventId).not.toBe("");
    expect(notification.notificationId).toMatch(/^ntf_/);
  });

  it("tells the customer why an order was not accepted", async () => {
    const err = await rejectionOf(placeBeansAndMug(requestId(), "tok_chargeDeclined"));
    expect(err.code).toBe(status.FAILED_PRECONDITION);

    await until(async () => (await listed()).length === 1);

    const [notification] = await listed();
    expect(notification.kind).toBe(NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED);
    expect(notification.title).toBe("Your order was not accepted");
    expect(notification.body).toContain(err.details.replace(/\.$/, ""));
    expect(notification.body).toMatch(/Nothing was reserved or charged\.$/);
  });

  it("lists several orders' notifications newest first, and a replayed order adds none", async () => {
    const first = (await placeBeansAndMug("same-request")).order!;
    await placeBeansAndMug("same-request");
    const last = (await placeBeansAndMug()).order!;

    // Events arrive in order: once the last order's notification is there, so is every other.
    await until(async () => (await listed()).some((n) => n.orderId === last.orderId));

    expect((await listed()).map((n) => n.orderId)).toEqual([last.orderId, first.orderId]);
  });

  it("resumes after its cursor when it starts again: orders placed while it was down are notified once each", async () => {
    await placeBeansAndMug();
    await until(async () => (await listed()).length === 1);
    await consumer.stop();

    await placeBeansAndMug();
    const last = (await placeBeansAndMug()).order!;
    consumer = createOrdersConsumer({
      store: createNotificationsStore(notifications.store),
      orders: shop.orders,
      log: silentLogger(),
    });
    consumer.start();
    await until(async () => (await listed()).some((n) => n.orderId === last.orderId));

    const eventIds = (await listed()).map((n) => n.eventId);
    expect(eventIds).toHaveLength(3);
    expect(new Set(eventIds).size).toBe(3);
  });

  it("acknowledges what it has processed, so that orders may compact it", async () => {
    await placeBeansAndMug();
    await placeBeansAndMug();
    await until(async () => (await listed()).length === 2);

    await until(() => consumer.status().acknowledgedSequence === consumer.status().lastSequence);

    // Acknowledging an older sequence changes nothing and answers where the consumer is.
    const { acknowledgedSequence } = await shop.orders.ackEvents({
      consumer: "notifications",
      sequence: 1,
    });
    expect(acknowledgedSequence).toBe(consumer.status().lastSequence);
    expect(acknowledgedSequence).toBeGreaterThanOrEqual(2);
  });
});

describe("ListNotifications over the wire", () => {
  let notifications: Awaited<ReturnType<typeof startNotifications>>;

  beforeAll(async () => {
    notifications = await startNotifications();
  });
  afterAll(async () => {
    notifications.peer.close();
    await notifications.server.close();
    await notifications.store.close();
  });

  /** Sends raw bytes as a ListNotifications request; resolves to the status and its details. */
  const send = (bytes: Buffer): Promise<{ code: number; details: string }> => {
    const client = new Client(notifications.server.address, credentials.createInsecure());
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        NotificationServiceService.listNotifications.path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (err) => {
          client.close();
          resolve(
            err ? { code: err.code, details: err.details } : { code: status.OK, details: "" },
          );
        },
      );
    });
  };

  it("answers an empty request with INVALID_ARGUMENT naming user_id", async () => {
    expect(await send(Buffer.alloc(0))).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "user_id: is required",
    });
  });

  it("never answers INTERNAL or UNKNOWN to random bytes", async () => {
    // Seeded, so that a failing case can be replayed.
    const random = seededRandom(7);
    const codes = new Set<number>();
    for (let i = 0; i < 25; i++) {
      const bytes = Buffer.from(
        Array.from({ length: 1 + Math.floor(random() * 40) }, () => Math.floor(random() * 256)),
      );
      codes.add((await send(bytes)).code);
    }

    expect(codes.has(status.INTERNAL)).toBe(false);
    expect(codes.has(status.UNKNOWN)).toBe(false);
  });

  it("answers an unknown user with an empty list", async () => {
    const page = await notifications.peer.listNotifications({
      userId: "usr_nobody",
      pageSize: 0,
      pageToken: "",
    });

    expect(page).toEqual({ notifications: [], nextPageToken: "" });
  });
});
