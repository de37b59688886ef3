import { status } from "@grpc/grpc-js";
import { OrderStatus } from "../../gen/shop/orders/v1/orders";
import { openStore, silentLogger, type Store } from "../../mesh";
import { describeEachBackend } from "../../test/backends";
import { migrations } from "./migrations";
import { createOrdersStore, toOrder, type OrderRecord, type OrdersStore } from "./store";

const candidate = (overrides: Partial<OrderRecord> = {}): OrderRecord => ({
  orderId: "ord_1",
  requestId: "req-1",
  fingerprint: "fp",
  userId: "usr_1",
  status: OrderStatus.ORDER_STATUS_PENDING,
  paymentMethod: "tok_visa",
  items: [
    { sku: "sku-b", quantity: 2 },
    { sku: "sku-a", quantity: 1 },
  ],
  createTime: 1_000,
  updateTime: 1_000,
  ...overrides,
});

describeEachBackend("orders store", (backend) => {
  let store: Store;
  let orders: OrdersStore;

  beforeEach(async () => {
    store = await openStore({
      file: backend.freshStore("orders"),
      migrations,
      log: silentLogger(),
    });
    orders = createOrdersStore(store);
  });
  afterEach(() => store.close());

  it("creates an order once per request_id and returns the first one after that", async () => {
    const first = await orders.findOrCreate(candidate());

    const second = await orders.findOrCreate(candidate({ orderId: "ord_2", fingerprint: "other" }));

    expect(first.created).toBe(true);
    expect(second).toEqual({ order: first.order, created: false });
    expect(second.order.items.map((i) => i.sku)).toEqual(["sku-b", "sku-a"]);
  });

  it("scopes request_id to its user: another user's same key is another order", async () => {
    const ada = await orders.findOrCreate(candidate());

    const grace = await orders.findOrCreate(
      candidate({ orderId: "ord_2", userId: "usr_2", fingerprint: "grace's" }),
    );
    const adaAgain = await orders.findOrCreate(candidate({ orderId: "ord_3" }));

    expect(grace.created).toBe(true);
    expect(grace.order).toMatchObject({ orderId: "ord_2", userId: "usr_2", requestId: "req-1" });
    expect(adaAgain).toEqual({ order: ada.order, created: false });
  });

  it("keeps the orders of a store made before request_ids were per user, and scopes them from then on", async () => {
    const file = backend.freshStore("orders_upgrade");
    const before = await openStore({
      file,
      migrations: migrations.slice(0, 2),
      log: silentLogger(),
    });
    try {
      // A row as the old schema held it (request_id unique across users).
      await before.db("orders").insert({
        order_id: "ord_old",
        request_id: "req-1",
        fingerprint: "fp",
        user_id: "usr_1",
        status: "PENDING",
        payment_method: "tok_visa",
        create_time: 1_000,
        update_time: 1_000,
      });
    } finally {
      await before.close();
    }

    const after = await openStore({ file, migrations, log: silentLogger() });
    try {
      const upgraded = createOrdersStore(after);
      const again = await upgraded.findOrCreate(candidate({ orderId: "ord_again" }));
      expect(again).toMatchObject({ order: { orderId: "ord_old" }, created: false });
      const other = await upgraded.findOrCreate(candidate({ orderId: "ord_2", userId: "usr_2" }));
      expect(other.created).toBe(true);
    } finally {
      await after.close();
    }
  });

  it("confirms a pending order with its prices, and a later rejection does not overwrite it", async () => {
    const { order } = await orders.findOrCreate(candidate());
    const priced = [
      { sku: "sku-b", quantity: 2, unitPriceMicros: 1_500_000, currencyCode: "USD" },
      { sku: "sku-a", quantity: 1, unitPriceMicros: 250_000, currencyCode: "USD" },
    ];

    await orders.finish(
      order,
      {
        status: OrderStatus.ORDER_STATUS_CONFIRMED,
        paymentId: "pay_1",
        items: priced,
        totalMicros: 3_250_000,
        currencyCode: "USD",
      },
      2_000,
    );
    const after = await orders.finish(
      order,
      {
        status: OrderStatus.ORDER_STATUS_REJECTED,
        code: status.FAILED_PRECONDITION,
        reason: "late",
      },
      3_000,
    );

    expect(after).toMatchObject({
      status: OrderStatus.ORDER_STATUS_CONFIRMED,
      paymentId: "pay_1",
      updateTime: 2_000,
    });
    expect(toOrder(after).total).toEqual({ currencyCode: "USD", units: 3, nanos: 250_000_000 });
    expect(toOrder(after).items[0].unitPrice).toEqual({
      currencyCode: "USD",
      units: 1,
      nanos: 500_000_000,
    });
  });

  it("keeps a rejection's code and reason so that a replay can answer the same", async () => {
    const { order } = await orders.findOrCreate(candidate());

    const rejected = await orders.finish(
      order,
      {
        status: OrderStatus.ORDER_STATUS_REJECTED,
        code: status.NOT_FOUND,
        reason: "user usr_1 not found",
      },
      2_000,
    );

    expect(rejected).toMatchObject({
      rejectionCode: status.NOT_FOUND,
      rejectionReason: "user usr_1 not found",
    });
    expect(toOrder(rejected).total).toBeUndefined();
  });

  it("keeps a rejection reason of any length, as it quotes the error that ended the order", async () => {
    const { order } = await orders.findOrCreate(candidate());
    const reason = `unknown skus: ${Array.from({ length: 100 }, (_, i) => `sku-${i}`).join(", ")}`;

    const rejected = await orders.finish(
      order,
      { status: OrderStatus.ORDER_STATUS_REJECTED, code: status.NOT_FOUND, reason },
      2_000,
    );

    expect(reason.length).toBeGreaterThan(255);
    expect((await orders.get("ord_1"))?.rejectionReason).toBe(reason);
    expect(rejected.rejectionReason).toBe(reason);
  });

  it("finds pending orders untouched since a time, oldest first, that no one holds", async () => {
    await orders.findOrCreate(candidate({ orderId: "ord_old", requestId: "a", updateTime: 100 }));
    await orders.findOrCreate(candidate({ orderId: "ord_new", requestId: "b", updateTime: 900 }));
    const { order: done } = await orders.findOrCreate(
      candidate({ orderId: "ord_done", requestId: "c", updateTime: 50 }),
    );
    await orders.findOrCreate(
      candidate({
        orderId: "ord_held",
        requestId: "d",
        updateTime: 200,
        claim: { owner: "orders-2", until: 2_000 },
      }),
    );
    await orders.finish(
      done,
      { status: OrderStatus.ORDER_STATUS_REJECTED, code: 9, reason: "x" },
      60,
    );

    // At 1 500 orders-2 still holds ord_held; at 2 000 its claim has lapsed.
    expect((await orders.pending(1_000, 10, 1_500)).map((o) => o.orderId)).toEqual([
      "ord_old",
      "ord_new",
    ]);
    expect((await orders.pending(1_000, 10, 2_000)).map((o) => o.orderId)).toEqual([
      "ord_old",
      "ord_held",
      "ord_new",
    ]);
  });

  it("lets one owner at a time claim a pending order, until the claim lapses or is let go", async () => {
    await orders.findOrCreate(candidate({ claim: { owner: "orders-1", until: 5_000 } }));

    const early = await orders.claim("ord_1", { owner: "orders-2", until: 8_000 }, 4_000);
    const again = await orders.claim("ord_1", { owner: "orders-1", until: 9_000 }, 4_000);
    const lapsed = await orders.claim("ord_1", { owner: "orders-2", until: 14_000 }, 10_000);

    expect({ early, again, lapsed }).toEqual({ early: false, again: true, lapsed: true });
    expect((await orders.get("ord_1"))?.claim).toEqual({ owner: "orders-2", until: 14_000 });
    await orders.releaseClaim("ord_1", "orders-1");
    expect((await orders.get("ord_1"))?.claim).toEqual({ owner: "orders-2", until: 14_000 });
    await orders.releaseClaim("ord_1", "orders-2");
    expect((await orders.get("ord_1"))?.claim).toBeUndefined();
    expect(await orders.claim("ord_1", { owner: "orders-1", until: 20_000 }, 11_000)).toBe(true);
  });

  it("renews an owner's claims on pending orders only, and an ended order is no one's", async () => {
    await orders.findOrCreate(candidate({ claim: { owner: "orders-1", until: 5_000 } }));
    const { order: second } = await orders.findOrCreate(
      candidate({
        orderId: "ord_2",
        requestId: "req-2",
        claim: { owner: "orders-1", until: 5_000 },
      }),
    );
    await orders.finish(
      second,
      { status: OrderStatus.ORDER_STATUS_REJECTED, code: 9, reason: "x" },
      4_000,
    );

    const renewed = await orders.renewClaims("orders-1", 9_000);

    expect(renewed).toBe(1);
    expect((await orders.get("ord_1"))?.claim).toEqual({ owner: "orders-1", until: 9_000 });
    expect((await orders.get("ord_2"))?.claim).toBeUndefined();
    expect(await orders.claim("ord_2", { owner: "orders-2", until: 20_000 }, 10_000)).toBe(false);
  });

  it("lists newest first, filtered by user, before a given id", async () => {
    for (const [id, user] of [
      ["ord_1", "u1"],
      ["ord_2", "u2"],
      ["ord_3", "u1"],
      ["ord_4", "u1"],
    ]) {
      await orders.findOrCreate(candidate({ orderId: id, requestId: id, userId: user }));
    }

    expect((await orders.list("u1", 2, undefined)).map((o) => o.orderId)).toEqual([
      "ord_4",
      "ord_3",
    ]);
    expect((await orders.list("u1", 2, "ord_3")).map((o) => o.orderId)).toEqual(["ord_1"]);
    expect((await orders.list(undefined, 10, undefined)).map((o) => o.orderId)).toEqual([
      "ord_4",
      "ord_3",
      "ord_2",
      "ord_1",
    ]);
  });
});
