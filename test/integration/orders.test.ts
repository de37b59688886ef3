import { status } from "@grpc/grpc-js";
import { OrderStatus } from "../../gen/shop/orders/v1/orders";
import { PaymentStatus } from "../../gen/shop/payments/v1/payments";
import { ReservationStatus } from "../../gen/shop/inventory/v1/inventory";
import { describeEachBackend } from "../backends";
import { rejectionOf } from "../support";
import { startShop, type TestShop } from "../shop";

describeEachBackend("placing orders through the saga", (backend) => {
  let shop: TestShop;
  let userId: string;
  let seq = 0;
  const requestId = (): string => `req-${++seq}`;

  beforeEach(async () => {
    shop = await startShop({ storeOf: (service) => backend.freshStore(service) });
    userId = (await shop.users.createUser({ email: "ada@example.com", displayName: "Ada" })).user!
      .userId;
    for (const [sku, units, stock] of [
      ["sku-beans", 18, 10],
      ["sku-mug", 9, 2],
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
  afterEach(() => shop.stop());

  const available = async (sku: string): Promise<number> =>
    (await shop.inventory.getProduct({ sku })).product!.available;
  const paymentsOf = async (orderId: string) =>
    (await shop.payments.listPayments({ orderId, userId: "", pageSize: 0, pageToken: "" }))
      .payments;

  it("confirms an order, takes the stock and charges the total", async () => {
    const { order } = await shop.orders.placeOrder({
      requestId: requestId(),
      userId,
      items: [
        { sku: "sku-beans", quantity: 2 },
        { sku: "sku-mug", quantity: 1 },
      ],
      paymentMethod: "",
    });

    expect(order!.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(order!.total).toEqual({ currencyCode: "USD", units: 46, nanos: 500_000_000 });
    expect(order!.items[0].unitPrice).toEqual({
      currencyCode: "USD",
      units: 18,
      nanos: 500_000_000,
    });
    expect(await available("sku-beans")).toBe(8);
    expect(await available("sku-mug")).toBe(1);
    const payments = await paymentsOf(order!.orderId);
    expect(payments).toHaveLength(1);
    expect(payments[0]).toMatchObject({
      paymentId: order!.paymentId,
      status: PaymentStatus.PAYMENT_STATUS_CAPTURED,
    });
    expect(payments[0].amount).toEqual(order!.total);
  });

  it("returns the first order when a request_id is replayed, and charges once", async () => {
    const request = {
      requestId: requestId(),
      userId,
      items: [{ sku: "sku-beans", quantity: 3 }],
      paymentMethod: "",
    };

    const first = await shop.orders.placeOrder(request);
    const again = await shop.orders.placeOrder(request);

    expect(again.order).toEqual(first.order);
    expect(await available("sku-beans")).toBe(7);
    expect(await paymentsOf(first.order!.orderId)).toHaveLength(1);
  });

  it("makes one order, one reservation and one charge of 20 identical requests sent at once", async () => {
    const request = {
      requestId: requestId(),
      userId,
      items: [{ sku: "sku-beans", quantity: 1 }],
      paymentMethod: "",
    };
    const before = await available("sku-beans");

    // Their inserts of the PENDING order commit in groups: all but the first are refused by
    // the unique (user_id, request_id), and each of those answers with the first's order once
    // it has ended. Stock taken once (the one reservation), one payment.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => shop.orders.placeOrder(request)),
    );

    const [first] = answers;
    expect(first.order?.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    for (const answer of answers) expect(answer.order).toEqual(first.order);
    const { orders } = await shop.orders.listOrders({ userId, pageSize: 100, pageToken: "" });
    expect(orders.filter((o) => o.requestId === request.requestId)).toHaveLength(1);
    expect(await available("sku-beans")).toBe(before - 1);
    expect(await paymentsOf(first.order!.orderId)).toHaveLength(1);
  });

  it("refuses a request_id reused for a different order with ALREADY_EXISTS", async () => {
    const id = requestId();
    await shop.orders.placeOrder({
      requestId: id,
      userId,
      items: [{ sku: "sku-beans", quantity: 1 }],
      paymentMethod: "",
    });

    const err = await rejectionOf(
      shop.orders.placeOrder({
        requestId: id,
        userId,
        items: [{ sku: "sku-beans", quantity: 2 }],
        paymentMethod: "",
      }),
    );

    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.details).toContain(id);
  });

  it("rejects an order for an unknown user with NOT_FOUND, reserving and charging nothing", async () => {
    const err = await rejectionOf(
      shop.orders.placeOrder({
        requestId: requestId(),
        userId: "usr_nobody",
        items: [{ sku: "sku-beans", quantity: 1 }],
        paymentMethod: "",
      }),
    );

    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toContain("usr_nobody");
    expect(await available("sku-beans")).toBe(10);
    const [order] = (
      await shop.orders.listOrders({ userId: "usr_nobody", pageSize: 0, pageToken: "" })
    ).orders;
    expect(order.status).toBe(OrderStatus.ORDER_STATUS_REJECTED);
    expect(await paymentsOf(order.orderId)).toHaveLength(0);
  });

  it("rejects an order over the stock with FAILED_PRECONDITION, leaving every item's stock as it was", async () => {
    const err = await rejectionOf(
      shop.orders.placeOrder({
        requestId: requestId(),
        userId,
        items: [
          { sku: "sku-beans", quantity: 1 },
          { sku: "sku-mug", quantity: 3 },
        ],
        paymentMethod: "",
      }),
    );

    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain("sku-mug");
    expect(await available("sku-beans")).toBe(10);
    expect(await available("sku-mug")).toBe(2);
    const [order] = (await shop.orders.listOrders({ userId, pageSize: 0, pageToken: "" })).orders;
    expect(order).toMatchObject({
      status: OrderStatus.ORDER_STATUS_REJECTED,
      rejectionReason: err.details,
    });
    expect(await paymentsOf(order.orderId)).toHaveLength(0);
  });

  it("releases the reservation when the card is declined, and answers the same on replay", async () => {
    const request = {
      requestId: requestId(),
      userId,
      items: [{ sku: "sku-beans", quantity: 4 }],
      paymentMethod: "tok_chargeDeclined",
    };

    const err = await rejectionOf(shop.orders.placeOrder(request));
    const replay = await rejectionOf(shop.orders.placeOrder(request));

    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toContain("declined");
    expect([replay.code, replay.details]).toEqual([err.code, err.details]);
    expect(await available("sku-beans")).toBe(10);
    const [order] = (await shop.orders.listOrders({ userId, pageSize: 0, pageToken: "" })).orders;
    const { reservation } = await shop.inventory.getReservation({ orderId: order.orderId });
    expect(reservation!.status).toBe(ReservationStatus.RESERVATION_STATUS_RELEASED);
    expect((await paymentsOf(order.orderId)).map((p) => p.status)).toEqual([
      PaymentStatus.PAYMENT_STATUS_DECLINED,
    ]);
  });

  it("confirms exactly the stock's worth of many parallel orders, one charge each, none for the rest", async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, () =>
        shop.orders.placeOrder({
          requestId: requestId(),
          userId,
          items: [{ sku: "sku-beans", quantity: 1 }],
          paymentMethod: "",
        }),
      ),
    );

    const confirmed = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(confirmed).toHaveLength(10);
    expect(refused.map((r) => (r.reason as { code: number }).code)).toEqual(
      Array(20).fill(status.FAILED_PRECONDITION),
    );
    expect(await available("sku-beans")).toBe(0);
    const { orders } = await shop.orders.listOrders({ userId, pageSize: 100, pageToken: "" });
    for (const order of orders) {
      const captured = (await paymentsOf(order.orderId)).filter(
        (p) => p.status === PaymentStatus.PAYMENT_STATUS_CAPTURED,
      );
      expect(captured).toHaveLength(order.status === OrderStatus.ORDER_STATUS_CONFIRMED ? 1 : 0);
    }
  });

  it("leaves an order PENDING when payments is down, and recovery confirms it once payments is back", async () => {
    await shop.stopPayments();
    const request = {
      requestId: requestId(),
      userId,
      items: [{ sku: "sku-beans", quantity: 2 }],
      paymentMethod: "",
    };

    const err = await rejectionOf(shop.orders.placeOrder(request));
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/is pending .*retry with the same request_id/);
    const [pending] = (await shop.orders.listOrders({ userId, pageSize: 0, pageToken: "" })).orders;
    expect(pending.status).toBe(OrderStatus.ORDER_STATUS_PENDING);
    expect(await available("sku-beans")).toBe(8);

    await shop.startPayments();
    // As the recovery loop does: try again until the channel has reconnected (bounded).
    let ended = 0;
    for (let pass = 0; pass < 50 && ended === 0; pass++) {
      ended = await shop.recovery.runOnce(0);
      if (ended === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(ended).toBe(1);

    const { order } = await shop.orders.getOrder({ orderId: pending.orderId });
    expect(order!.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(await paymentsOf(pending.orderId)).toHaveLength(1);
    expect((await shop.orders.placeOrder(request)).order!.orderId).toBe(pending.orderId);
  });

  it("recovers an order that crashed after the charge without charging it again", async () => {
    // The state a crash between Charge and the final write leaves: PENDING, stock reserved, charged.
    const { order } = await shop.ordersStore.findOrCreate({
      orderId: "ord_crashed",
      requestId: requestId(),
      fingerprint: "f",
      userId,
      status: OrderStatus.ORDER_STATUS_PENDING,
      paymentMethod: "tok_visa",
      items: [{ sku: "sku-mug", quantity: 2 }],
      createTime: Date.now(),
      updateTime: Date.now(),
    });
    await shop.inventory.reserveStock({
      orderId: order.orderId,
      items: [{ sku: "sku-mug", quantity: 2 }],
    });
    const { payment } = await shop.payments.charge({
      orderId: order.orderId,
      userId,
      amount: { currencyCode: "USD", units: 19, nanos: 0 },
      paymentMethod: "tok_visa",
    });

    await shop.recovery.runOnce(0);

    const recovered = (await shop.orders.getOrder({ orderId: order.orderId })).order!;
    expect(recovered).toMatchObject({
      status: OrderStatus.ORDER_STATUS_CONFIRMED,
      paymentId: payment!.paymentId,
    });
    expect(await paymentsOf(order.orderId)).toHaveLength(1);
    expect(await available("sku-mug")).toBe(0);
  });

  it("lists a user's orders newest first, a page at a time", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { order } = await shop.orders.placeOrder({
        requestId: requestId(),
        userId,
        items: [{ sku: "sku-beans", quantity: 1 }],
        paymentMethod: "",
      });
      ids.push(order!.orderId);
    }

    const first = await shop.orders.listOrders({ userId, pageSize: 3, pageToken: "" });
    const second = await shop.orders.listOrders({
      userId,
      pageSize: 3,
      pageToken: first.nextPageToken,
    });

    expect([...first.orders, ...second.orders].map((o) => o.orderId)).toEqual([...ids].reverse());
    expect(second.nextPageToken).toBe("");
    const misuse = await rejectionOf(
      shop.orders.listOrders({ userId: "", pageSize: 3, pageToken: first.nextPageToken }),
    );
    expect([misuse.code, misuse.details.split(":")[0]]).toEqual([
      status.INVALID_ARGUMENT,
      "page_token",
    ]);
  });
});
