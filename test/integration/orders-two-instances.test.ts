import { type ServiceDefinition } from "@grpc/grpc-js";
import { OrderServiceService, OrderStatus } from "../../gen/shop/orders/v1/orders";
import { PaymentStatus } from "../../gen/shop/payments/v1/payments";
import { createPeer, type Peer, type Store } from "../../mesh";
import type { ComposedOrders } from "../../services/orders/compose";
import { describeEachBackend } from "../backends";
import { composeService, startShop, type TestShop } from "../shop";
import { projectPolicy, rejectionOf, startTestServer, type TestServer } from "../support";

// Two orders instances on one store, as mesh.yaml runs them: A is the shop's, B a second one
// composed by the same compose.ts on the same store, with its own claims and recovery.
describeEachBackend("two orders instances on one store", (backend) => {
  let shop: TestShop;
  let second: { composed: ComposedOrders; store: Store; server: TestServer };
  let b: Peer<typeof OrderServiceService>;
  let userId: string;
  const closers: (() => void)[] = [];
  let seq = 0;
  const request = () => ({
    requestId: `req-${++seq}`,
    userId,
    items: [{ sku: "sku-beans", quantity: 1 }],
    paymentMethod: "",
  });

  beforeEach(async () => {
    const ordersStore = backend.freshStore("orders");
    shop = await startShop({
      storeOf: (service) => (service === "orders" ? ordersStore : backend.freshStore(service)),
    });
    const policy = projectPolicy();
    const connect = <S extends ServiceDefinition>(definition: S, name: string): Peer<S> => {
      const peer = createPeer(definition, { target: shop.addresses[name], policy });
      closers.push(() => peer.close());
      return peer;
    };
    const composed = await composeService<ComposedOrders>("orders", {
      file: ordersStore,
      connect,
    });
    const server = await startTestServer((s) => {
      for (const { definition, handlers } of composed.composed.services) {
        s.addService(definition, handlers);
      }
    });
    second = { ...composed, server };
    b = createPeer(OrderServiceService, { target: server.address, policy });
    closers.push(() => b.close());
    userId = (await shop.users.createUser({ email: "ada@example.com", displayName: "Ada" })).user!
      .userId;
    await shop.inventory.createProduct({
      sku: "sku-beans",
      name: "Beans",
      description: "",
      price: { currencyCode: "USD", units: 18, nanos: 0 },
      initialStock: 100,
    });
  });
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await second.server.close();
    await second.store.close();
    await shop.stop();
  });

  const captures = async (orderId: string): Promise<number> =>
    (
      await shop.payments.listPayments({ orderId, userId: "", pageSize: 0, pageToken: "" })
    ).payments.filter((p) => p.status === PaymentStatus.PAYMENT_STATUS_CAPTURED).length;

  /** An order left PENDING by instance A (payments was down), and its id. */
  const pendingOnA = async () => {
    const placed = request();
    await shop.stopPayments();
    await rejectionOf(shop.orders.placeOrder(placed));
    await shop.startPayments();
    const [order] = (await shop.orders.listOrders({ userId, pageSize: 1, pageToken: "" })).orders;
    expect(order.status).toBe(OrderStatus.ORDER_STATUS_PENDING);
    return { placed, orderId: order.orderId };
  };

  it("lets a replay on B wait while A holds the order, and answers the outcome A reached", async () => {
    const { placed, orderId } = await pendingOnA();
    // A drives it (its claim runs 10 s) and confirms it 400 ms from now.
    const now = Date.now();
    expect(
      await shop.ordersStore.claim(orderId, { owner: "orders-a", until: now + 10_000 }, now),
    ).toBe(true);
    const pending = (await shop.ordersStore.get(orderId))!;
    setTimeout(() => {
      void shop.ordersStore.finish(
        pending,
        {
          status: OrderStatus.ORDER_STATUS_CONFIRMED,
          paymentId: "pay_by_a",
          items: [
            { sku: "sku-beans", quantity: 1, unitPriceMicros: 18_000_000, currencyCode: "USD" },
          ],
          totalMicros: 18_000_000,
          currencyCode: "USD",
        },
        Date.now(),
      );
    }, 400);

    const started = Date.now();
    const { order } = await b.placeOrder(placed);

    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(order).toMatchObject({ orderId, paymentId: "pay_by_a" });
    // B drove nothing: no charge of its own.
    expect(await captures(orderId)).toBe(0);
  });

  it("takes over on B an order whose driver died, once its claim lapses, and charges it once", async () => {
    const { placed, orderId } = await pendingOnA();
    // A took it and died: its claim is never released nor renewed, and lapses in 800 ms.
    const now = Date.now();
    await shop.ordersStore.claim(orderId, { owner: "orders-a-dead", until: now + 800 }, now);

    const started = Date.now();
    const { order } = await b.placeOrder(placed);

    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
    expect(order!.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(await captures(orderId)).toBe(1);
    expect((await shop.ordersStore.get(orderId))?.claim).toBeUndefined();
  });

  it("answers UNAVAILABLE, to retry, when the holder keeps the order past the replay's deadline", async () => {
    const { placed, orderId } = await pendingOnA();
    const now = Date.now();
    await shop.ordersStore.claim(orderId, { owner: "orders-a", until: now + 30_000 }, now);
    // No retries: the client sees the answer itself (a retrying client would try again).
    const policy = projectPolicy();
    const short = createPeer(OrderServiceService, {
      target: second.server.address,
      policy: {
        ...policy,
        defaults: { ...policy.defaults, retry: { ...policy.defaults.retry, maxAttempts: 1 } },
      },
    });
    closers.push(() => short.close());

    const err = await rejectionOf(short.placeOrder(placed, { timeoutMs: 600 }));

    expect(err.details).toBe(
      `order ${orderId} is being placed by another instance; retry with the same request_id`,
    );
    expect((await shop.ordersStore.get(orderId))?.status).toBe(OrderStatus.ORDER_STATUS_PENDING);
  });

  it("rolls each stuck order forward on exactly one instance when both recover at once", async () => {
    // What crashes leave: PENDING orders no one holds (as recovery.test's crashed order).
    const stuck: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { order } = await shop.ordersStore.findOrCreate({
        orderId: `ord_stuck_${i}`,
        requestId: `stuck-${i}`,
        fingerprint: "f",
        userId,
        status: OrderStatus.ORDER_STATUS_PENDING,
        paymentMethod: "tok_visa",
        items: [{ sku: "sku-beans", quantity: 1 }],
        createTime: Date.now(),
        updateTime: Date.now(),
      });
      stuck.push(order.orderId);
    }

    const [byA, byB] = await Promise.all([
      shop.recovery.runOnce(0),
      second.composed.recovery.runOnce(0),
    ]);

    // Each order ended once: by the instance that claimed it. The other skipped it.
    expect(byA + byB).toBe(stuck.length);
    for (const orderId of stuck) {
      expect((await shop.ordersStore.get(orderId))?.status).toBe(
        OrderStatus.ORDER_STATUS_CONFIRMED,
      );
      expect(await captures(orderId)).toBe(1);
    }
  });
});
