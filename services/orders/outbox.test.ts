import { status } from "@grpc/grpc-js";
import { OrderStatus } from "../../gen/shop/orders/v1/orders";
import { idPattern, openStore, silentLogger, type Store } from "../../mesh";
import { describeEachBackend } from "../../test/backends";
import { migrations } from "./migrations";
import { orderEventOf } from "./outbox";
import {
  createOrdersStore,
  toOrder,
  type OrderRecord,
  type OrdersStore,
  type Outcome,
} from "./store";

const confirmed: Outcome = {
  status: OrderStatus.ORDER_STATUS_CONFIRMED,
  paymentId: "pay_1",
  items: [{ sku: "sku-a", quantity: 2, unitPriceMicros: 1_500_000, currencyCode: "USD" }],
  totalMicros: 3_000_000,
  currencyCode: "USD",
};
const rejected: Outcome = {
  status: OrderStatus.ORDER_STATUS_REJECTED,
  code: status.FAILED_PRECONDITION,
  reason: "card declined",
};

describeEachBackend("orders outbox", (backend) => {
  let location: string;
  let store: Store;
  let orders: OrdersStore;

  beforeEach(async () => {
    location = backend.freshStore("orders");
    store = await openStore({ file: location, migrations, log: silentLogger() });
    orders = createOrdersStore(store);
  });
  afterEach(() => store.close());

  // Each order as placed (PENDING), to end it with finish() as its saga would.
  const placed = new Map<string, OrderRecord>();
  const place = async (orderId: string) => {
    const { order } = await orders.findOrCreate({
      orderId,
      requestId: `req-${orderId}`,
      fingerprint: "fp",
      userId: "usr_1",
      status: OrderStatus.ORDER_STATUS_PENDING,
      paymentMethod: "tok_visa",
      items: [{ sku: "sku-a", quantity: 2 }],
      createTime: 1_000,
      updateTime: 1_000,
    });
    placed.set(orderId, order);
    return order;
  };
  const finish = (orderId: string, outcome: Outcome, now: number, writer = orders) =>
    writer.finish(placed.get(orderId)!, outcome, now);

  it("writes one event for the change that ends an order, carrying the order as stored", async () => {
    await place("ord_1");
    await place("ord_2");

    const one = await finish("ord_1", confirmed, 2_000);
    const two = await finish("ord_2", rejected, 3_000);
    const [first, second] = await orders.events.read(0, 10);

    expect(await orders.events.read(0, 10)).toHaveLength(2);
    expect(first).toMatchObject({
      sequence: 1,
      orderId: "ord_1",
      userId: "usr_1",
      createTime: new Date(2_000),
      orderConfirmed: { order: toOrder(one) },
    });
    expect(first.eventId).toMatch(idPattern("evt"));
    expect(first.orderRejected).toBeUndefined();
    expect(second).toMatchObject({ sequence: 2, orderRejected: { order: toOrder(two) } });
    expect(second.orderRejected!.order!.rejectionReason).toBe("card declined");
  });

  it("lets a reader resuming after the last sequence it saw miss no event, while two instances end orders at once", async () => {
    const other = await openStore({ file: location, migrations, log: silentLogger() });
    const writers = [orders, createOrdersStore(other)];
    const ids = Array.from({ length: 40 }, (_, i) => `ord_${String(i).padStart(2, "0")}`);
    for (const id of ids) await place(id);
    const seen: { sequence: number; orderId: string }[] = [];
    let writing = true;
    const reader = (async () => {
      // Reads as a stream does, after the last sequence it delivered; a sequence that
      // committed after a higher one had been read would be skipped for good.
      const readOn = async () =>
        seen.push(...(await orders.events.read(seen.at(-1)?.sequence ?? 0, 100)));
      while (writing) {
        await readOn();
        await new Promise((resolve) => setImmediate(resolve));
      }
      await readOn();
    })();

    try {
      await Promise.all(ids.map((id, i) => finish(id, confirmed, 2_000 + i, writers[i % 2])));
      writing = false;
      await reader;
    } finally {
      writing = false;
      await other.close();
    }

    expect(seen.map((e) => e.orderId).sort()).toEqual(ids);
    expect(seen.map((e) => e.sequence)).toEqual(ids.map((_, i) => i + 1));
  });

  it("commits sequences in order across instances, so a reader resuming after the last it saw misses none", async () => {
    const other = await openStore({ file: location, migrations, log: silentLogger() });
    // Read on a connection of its own: on SQLite, `store` has one, which `first` holds.
    const reader = await openStore({ file: location, migrations, log: silentLogger() });
    const { events } = createOrdersStore(reader);
    const ended = async (orderId: string) =>
      toOrder({ ...(await place(orderId)), status: OrderStatus.ORDER_STATUS_CONFIRMED });
    const [one, two] = [await ended("ord_1"), await ended("ord_2")];
    let appended!: () => void;
    const firstAppended = new Promise<void>((resolve) => (appended = resolve));
    let release!: () => void;
    const mayCommit = new Promise<void>((resolve) => (release = resolve));

    try {
      // The first instance draws sequence 1 and holds its transaction open (having read the
      // order first, as finish updates it before its event: on SQLite an append alone waits
      // for the COMMIT, BEGIN included, and would hold nothing)...
      const first = store.write(async (trx) => {
        expect(await trx("orders").where({ order_id: "ord_1" }).first()).toBeDefined();
        await orders.events.append(trx, orderEventOf(one, 2_000), 2_000);
        appended();
        await mayCommit;
      });
      await firstAppended;
      // ...while the second appends too: it must wait, or it would commit sequence 2 first.
      const second = other.write((trx) =>
        createOrdersStore(other).events.append(trx, orderEventOf(two, 3_000), 3_000),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const early = await events.read(0, 10);
      release();
      await Promise.all([first, second]);
      const later = await events.read(early.at(-1)?.sequence ?? 0, 10);

      expect(early).toEqual([]);
      expect([...early, ...later].map((e) => [e.sequence, e.orderId])).toEqual([
        [1, "ord_1"],
        [2, "ord_2"],
      ]);
    } finally {
      release();
      await Promise.all([other.close(), reader.close()]);
    }
  });

  it("writes no second event when an ended order is finished again", async () => {
    await place("ord_1");
    await finish("ord_1", confirmed, 2_000);

    await finish("ord_1", rejected, 3_000);
    await finish("ord_1", confirmed, 4_000);

    expect((await orders.events.read(0, 10)).map((e) => e.sequence)).toEqual([1]);
    expect(await orders.events.lastSequence()).toBe(1);
  });

  it("reads in order after a sequence, a batch at a time", async () => {
    for (const id of ["ord_1", "ord_2", "ord_3", "ord_4"]) {
      await place(id);
      await finish(id, confirmed, 2_000);
    }

    expect((await orders.events.read(1, 2)).map((e) => e.orderId)).toEqual(["ord_2", "ord_3"]);
    expect((await orders.events.read(3, 2)).map((e) => e.sequence)).toEqual([4]);
    expect(await orders.events.read(4, 2)).toEqual([]);
  });

  it("never reuses a sequence, even after every event was compacted", async () => {
    await place("ord_1");
    await finish("ord_1", confirmed, 2_000);
    await orders.events.acknowledge("c", 1, 2_000);
    expect(await orders.events.compact(10_000, 100)).toBe(1);

    await place("ord_2");
    await finish("ord_2", confirmed, 3_000);

    expect((await orders.events.read(0, 10)).map((e) => e.sequence)).toEqual([2]);
    expect(await orders.events.lastSequence()).toBe(2);
  });

  it("does not lower an acknowledged sequence when the consumer registers again", async () => {
    for (const id of ["ord_1", "ord_2"]) {
      await place(id);
      await finish(id, confirmed, 2_000);
    }
    await orders.events.acknowledge("c", 2, 2_000);

    await orders.events.register("c", 3_000);

    expect(await orders.events.acknowledge("c", 1, 4_000)).toEqual({ acknowledged: 2, last: 2 });
  });

  describe("waiting for events", () => {
    const never = new AbortController().signal;

    it("ends the wait when this process announces an event", async () => {
      const seen = orders.events.announced;
      const waited = orders.events.waitForEvents(seen, 60_000, never);
      expect(orders.events.waiting).toBe(1);

      await place("ord_1");
      await finish("ord_1", confirmed, 2_000);
      await waited;

      expect(orders.events.announced).toBe(seen + 1);
      expect(orders.events.waiting).toBe(0);
    });

    it("does not wait when an event was announced since `seen`", async () => {
      const seen = orders.events.announced;
      await place("ord_1");
      await finish("ord_1", confirmed, 2_000);

      await orders.events.waitForEvents(seen, 60_000, never);

      expect(orders.events.waiting).toBe(0);
    });

    it("ends the wait after the timeout, and on abort, leaving no waiter behind", async () => {
      const started = Date.now();
      await orders.events.waitForEvents(orders.events.announced, 50, never);
      expect(Date.now() - started).toBeGreaterThanOrEqual(45);

      const controller = new AbortController();
      const waited = orders.events.waitForEvents(
        orders.events.announced,
        60_000,
        controller.signal,
      );
      controller.abort();
      await waited;

      expect(orders.events.waiting).toBe(0);
    });
  });
});
