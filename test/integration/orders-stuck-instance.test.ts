import { status, type ServiceDefinition } from "@grpc/grpc-js";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderServiceService, OrderStatus } from "../../gen/shop/orders/v1/orders";
import { createPeer, StatusError, type Peer, type Store } from "../../mesh";
import type { ComposedOrders } from "../../services/orders/compose";
import { composeService, startShop, type TestShop } from "../shop";
import { projectPolicy, startTestServer, type TestServer } from "../support";

// An inventory instance that takes calls and never answers (a partition, a stuck process): the
// order's step times out there, and the saga tries it again on the other instance while the
// order's deadline leaves time; the balancer ejects the stuck one after failures in a row.
describe("placing orders while one inventory instance never answers", () => {
  let shop: TestShop;
  let stuck: TestServer;
  let orders: { composed: ComposedOrders; store: Store; server: TestServer };
  let client: Peer<typeof OrderServiceService>;
  const stuckCalls = { reserve: 0 };
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    shop = await startShop();
    const never = () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "not here"));
    stuck = await startTestServer((s) =>
      s.addService(InventoryServiceService, {
        reserveStock: async (_req, ctx) => {
          stuckCalls.reserve++;
          await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
          throw new StatusError(status.CANCELLED, "gave up");
        },
        createProduct: never,
        getProduct: never,
        listProducts: never,
        releaseStock: never,
        getReservation: never,
      }),
    );
    const policy = projectPolicy();
    const connect = <S extends ServiceDefinition>(definition: S, name: string): Peer<S> => {
      const target =
        name === "inventory"
          ? `ipv4:${stuck.address},${shop.addresses.inventory}`
          : shop.addresses[name];
      const peer = createPeer(definition, { target, policy });
      closers.push(() => peer.close());
      return peer;
    };
    const composed = await composeService<ComposedOrders>("orders", { connect });
    const server = await startTestServer((s) => {
      for (const { definition, handlers } of composed.composed.services) {
        s.addService(definition, handlers);
      }
    });
    orders = { ...composed, server };
    client = createPeer(OrderServiceService, { target: server.address, policy });
    closers.push(() => client.close());
    await shop.inventory.createProduct({
      sku: "sku-beans",
      name: "Beans",
      description: "",
      price: { currencyCode: "USD", units: 18, nanos: 0 },
      initialStock: 100,
    });
  });
  afterAll(async () => {
    for (const close of closers.splice(0)) close();
    await orders.server.close();
    await orders.store.close();
    await stuck.close();
    await shop.stop();
  });

  it("confirms every order at the first attempt, each within its deadline, and stops calling the stuck one", async () => {
    const { userId } = (await shop.users.createUser({ email: "a@example.com", displayName: "A" }))
      .user!;
    const tookMs: number[] = [];

    for (let i = 0; i < 12; i++) {
      const started = Date.now();
      const { order } = await client.placeOrder({
        requestId: `stuck-${i}`,
        userId,
        items: [{ sku: "sku-beans", quantity: 1 }],
        paymentMethod: "",
      });
      tookMs.push(Date.now() - started);
      expect(order!.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    }

    // ReserveStock's timeout is 2 s: an order that met the stuck instance waited that once.
    expect(stuckCalls.reserve).toBeGreaterThanOrEqual(1);
    expect(stuckCalls.reserve).toBeLessThanOrEqual(5);
    expect(Math.max(...tookMs)).toBeLessThan(10_000);
    const { product } = await shop.inventory.getProduct({ sku: "sku-beans" });
    expect(product).toMatchObject({ available: 88, reserved: 12 });
  });
});
