import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import {
  OrderServiceService,
  OrderStatus,
  type OrderEvent,
  type PlaceOrderRequest,
} from "../../gen/shop/orders/v1/orders";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { migrations } from "../../services/orders/migrations";
import { createCompaction, type Compaction } from "../../services/common/outbox";
import type { OrdersOutbox as Outbox } from "../../services/orders/outbox";
import type { Saga } from "../../services/orders/saga";
import { createOrdersService } from "../../services/orders/service";
import { createOrdersStore, type OrdersStore } from "../../services/orders/store";
import { startShop, type TestShop } from "../shop";
import { projectPolicy, rejectionOf, startTestServer } from "../support";

type Orders = Peer<typeof OrderServiceService>;
type Failure = Error & { code: number; details: string };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sequences = (events: OrderEvent[]): number[] => events.map((e) => e.sequence);

/** Waits until `ready()` holds, for at most `ms`. */
async function until(ready: () => boolean, ms = 3_000): Promise<void> {
  for (const start = Date.now(); !ready() && Date.now() - start < ms;) await sleep(10);
}

/** Waits until `value()` has stayed the same for `quietMs`, and returns it. */
async function settled(value: () => number, quietMs = 300): Promise<number> {
  for (let last = NaN; ;) {
    const now = value();
    if (now === last) return now;
    last = now;
    await sleep(quietMs);
  }
}

/** A StreamEvents call read a few events at a time; cancel() ends it. */
interface Subscription {
  take(n: number): Promise<OrderEvent[]>;
  cancel(): void;
}

const opened: Subscription[] = [];

function subscribe(orders: Orders, consumer: string, afterSequence: number): Subscription {
  const controller = new AbortController();
  const iterator = orders
    .streamEvents({ consumer, afterSequence }, { signal: controller.signal })
    [Symbol.asyncIterator]();
  const subscription = {
    async take(n: number) {
      const events: OrderEvent[] = [];
      while (events.length < n) {
        const next = await iterator.next();
        if (next.done) throw new Error(`the stream ended after ${events.length} of ${n} events`);
        events.push(next.value.event!);
      }
      return events;
    },
    cancel: () => controller.abort(),
  };
  opened.push(subscription);
  return subscription;
}

/** Cancels every stream a test opened; before its server stops, which would wait for them. */
function cancelStreams(): void {
  for (const subscription of opened.splice(0)) subscription.cancel();
}

/** The error a stream ends with, failing the test if it ends cleanly. */
async function streamFailure(orders: Orders, consumer: string, afterSequence: number) {
  const controller = new AbortController();
  try {
    for await (const _ of orders.streamEvents(
      { consumer, afterSequence },
      { signal: controller.signal },
    )) {
      controller.abort();
      throw new Error("expected the stream to fail, but it delivered an event");
    }
  } catch (err) {
    return err as Failure;
  }
  throw new Error("expected the stream to fail, but it ended");
}

const fieldsOf = (details: string): string[] =>
  details.split("; ").map((part) => part.split(": ")[0]);

describe("the orders event stream, fed by the saga", () => {
  let shop: TestShop;
  let userId: string;
  let seq = 0;

  beforeEach(async () => {
    shop = await startShop();
    userId = (await shop.users.createUser({ email: "ada@example.com", displayName: "Ada" })).user!
      .userId;
    await shop.inventory.createProduct({
      sku: "sku-beans",
      name: "Beans",
      description: "",
      price: { currencyCode: "USD", units: 18, nanos: 500_000_000 },
      initialStock: 100,
    });
  });
  afterEach(async () => {
    cancelStreams();
    await shop.stop();
  });

  const request = (change: Partial<PlaceOrderRequest> = {}): PlaceOrderRequest => ({
    requestId: `req-${++seq}`,
    userId,
    items: [{ sku: "sku-beans", quantity: 1 }],
    paymentMethod: "",
    ...change,
  });
  const place = async (change: Partial<PlaceOrderRequest> = {}): Promise<string> =>
    (await shop.orders.placeOrder(request(change))).order!.orderId;
  const newestOrderOf = async (user: string): Promise<string> =>
    (await shop.orders.listOrders({ userId: user, pageSize: 1, pageToken: "" })).orders[0].orderId;

  it("writes exactly one event per ended order, in order, and none when a request is replayed", async () => {
    const confirm = request();
    const decline = request({ paymentMethod: "tok_chargeDeclined" });
    const stranger = request({ userId: "usr_nobody" });

    const confirmed = (await shop.orders.placeOrder(confirm)).order!.orderId;
    await rejectionOf(shop.orders.placeOrder(decline));
    const declined = await newestOrderOf(userId);
    await rejectionOf(shop.orders.placeOrder(stranger));
    const unknown = await newestOrderOf("usr_nobody");
    await shop.orders.placeOrder(confirm);
    await rejectionOf(shop.orders.placeOrder(decline));
    await rejectionOf(shop.orders.placeOrder(stranger));

    const events = await shop.ordersStore.events.read(0, 100);
    expect(events.map((e) => [e.orderId, e.orderConfirmed ? "confirmed" : "rejected"])).toEqual([
      [confirmed, "confirmed"],
      [declined, "rejected"],
      [unknown, "rejected"],
    ]);
    expect(sequences(events)).toEqual([1, 2, 3]);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(3);
    expect(await subscribe(shop.orders, "t", 0).take(3)).toEqual(events);
  });

  it("carries the order exactly as GetOrder returns it", async () => {
    const confirmed = await place();
    await rejectionOf(shop.orders.placeOrder(request({ paymentMethod: "tok_chargeDeclined" })));
    const declined = await newestOrderOf(userId);

    const [first, second] = await subscribe(shop.orders, "t", 0).take(2);

    const order = async (orderId: string) => (await shop.orders.getOrder({ orderId })).order;
    expect(first.orderConfirmed!.order).toEqual(await order(confirmed));
    expect(first.orderConfirmed!.order!.status).toBe(OrderStatus.ORDER_STATUS_CONFIRMED);
    expect(second.orderRejected!.order).toEqual(await order(declined));
    expect(second.orderRejected!.order!.rejectionReason).toContain("declined");
    expect([first.userId, second.userId]).toEqual([userId, userId]);
  });

  it("delivers the old events, then new ones as orders are placed, in order", async () => {
    const placed = [await place(), await place()];
    const stream = subscribe(shop.orders, "t", 0);

    const old = await stream.take(2);
    placed.push(await place());
    const third = await stream.take(1);
    placed.push(await place(), await place());
    const later = await stream.take(2);

    const events = [...old, ...third, ...later];
    expect(sequences(events)).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((e) => e.orderId)).toEqual(placed);
  });

  it("resuming after sequence N delivers exactly the events after N", async () => {
    const placed: string[] = [];
    for (let i = 0; i < 5; i++) placed.push(await place());
    const stream = subscribe(shop.orders, "t", 3);

    const resumed = await stream.take(2);
    placed.push(await place());
    const next = await stream.take(1);

    expect(sequences([...resumed, ...next])).toEqual([4, 5, 6]);
    expect([...resumed, ...next].map((e) => e.orderId)).toEqual(placed.slice(3));
  });
});

/** An orders server over its own store, whose stream reads are counted; no saga. */
async function startOrders(options: { file?: string; pollMs?: number } = {}) {
  const db: Store = await openStore({
    file: options.file ?? ":memory:",
    migrations,
    log: silentLogger(),
  });
  const store = createOrdersStore(db);
  const reads = { calls: 0, rows: 0 };
  const events = new Proxy(store.events, {
    get(target, key) {
      if (key !== "read") return Reflect.get(target, key) as unknown;
      return async (after: number, limit: number) => {
        const rows = await target.read(after, limit);
        reads.calls++;
        reads.rows += rows.length;
        return rows;
      };
    },
  }) satisfies Outbox;
  const saga: Saga = { run: () => Promise.reject(new Error("no saga in this test")) };
  const server = await startTestServer((s) =>
    s.addService(
      OrderServiceService,
      createOrdersService({
        store: { ...store, events },
        saga,
        eventPollIntervalMs: options.pollMs,
      }),
    ),
  );
  const orders = createPeer(OrderServiceService, {
    target: server.address,
    policy: projectPolicy(),
  });
  return {
    orders,
    store,
    reads,
    async close() {
      orders.close();
      await server.close();
      await db.close();
    },
  };
}

// Each event carries its order; many lines make it about a kilobyte, as a real order might.
const LINES = 20;
let orderCount = 0;

/** Ends `count` orders straight through the store, writing an event each, dated `at`. */
async function endOrders(store: OrdersStore, count: number, at = Date.now()): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const orderId = `ord_${++orderCount}`;
    const items = range(1, LINES).map((n) => ({ sku: `sku-line-${n}`, quantity: n }));
    const { order } = await store.findOrCreate({
      orderId,
      requestId: orderId,
      fingerprint: "fp",
      userId: "usr_1",
      status: OrderStatus.ORDER_STATUS_PENDING,
      paymentMethod: "tok_visa",
      items,
      createTime: at,
      updateTime: at,
    });
    await store.finish(
      order,
      {
        status: OrderStatus.ORDER_STATUS_CONFIRMED,
        paymentId: `pay_${orderCount}`,
        items: items.map((line) => ({ ...line, unitPriceMicros: 2_500_000, currencyCode: "USD" })),
        totalMicros: 2_500_000 * 210,
        currencyCode: "USD",
      },
      at,
    );
    ids.push(orderId);
  }
  return ids;
}

describe("the orders event stream under load, cancellation and other instances", () => {
  let shop: Awaited<ReturnType<typeof startOrders>>;
  // Run after the server stops, last registered first.
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    cancelStreams();
    await shop.close();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("makes the handler wait for a slow consumer instead of reading every event ahead of it", async () => {
    const TOTAL = 500;
    shop = await startOrders();
    await endOrders(shop.store, 1);
    const stream = subscribe(shop.orders, "slow", 0);
    expect(sequences(await stream.take(1))).toEqual([1]);

    // The consumer reads nothing while the events are written.
    await endOrders(shop.store, TOTAL);
    const readWhilePaused = await settled(() => shop.reads.rows);
    const rest = await stream.take(TOTAL);

    // About 500 kB of events: only what HTTP/2 flow control admits, plus one batch of rows,
    // has been read ahead of the consumer.
    expect(readWhilePaused).toBeGreaterThan(1);
    expect(readWhilePaused).toBeLessThan(TOTAL / 2);
    expect(sequences(rest)).toEqual(range(2, TOTAL + 1));
    expect(rest[TOTAL - 1].orderConfirmed!.order!.items).toHaveLength(LINES);
    expect(shop.reads.rows).toBe(TOTAL + 1);
  });

  it("ends the server's stream when the consumer cancels, leaving nothing waiting or polling", async () => {
    shop = await startOrders({ pollMs: 20 });
    await endOrders(shop.store, 1);
    const stream = subscribe(shop.orders, "t", 0);
    await stream.take(1);
    await until(() => shop.store.events.waiting === 1);
    expect(shop.store.events.waiting).toBe(1);

    stream.cancel();
    await until(() => shop.store.events.waiting === 0);
    const calls = shop.reads.calls;
    await sleep(200);

    // Polling every 20 ms, a stream still running would have read about ten more times.
    expect(shop.store.events.waiting).toBe(0);
    expect(shop.reads.calls).toBe(calls);
  });

  it("delivers events that another instance sharing the store writes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "orders-events-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "orders.sqlite");
    shop = await startOrders({ file, pollMs: 50 });
    const other = await openStore({ file, migrations, log: silentLogger() });
    cleanups.push(() => other.close());
    const stream = subscribe(shop.orders, "t", 0);
    await until(() => shop.store.events.waiting === 1);

    const written = await endOrders(createOrdersStore(other), 3);

    expect((await stream.take(3)).map((e) => e.orderId)).toEqual(written);
  });
});

describe("AckEvents", () => {
  let shop: Awaited<ReturnType<typeof startOrders>>;
  beforeEach(async () => {
    shop = await startOrders();
    await endOrders(shop.store, 5);
  });
  afterEach(async () => {
    cancelStreams();
    await shop.close();
  });

  const ack = async (consumer: string, sequence: number) =>
    (await shop.orders.ackEvents({ consumer, sequence })).acknowledgedSequence;

  it("keeps the highest sequence a consumer acknowledged", async () => {
    expect(await ack("notifications", 3)).toBe(3);
    expect(await ack("notifications", 2)).toBe(3);
    expect(await ack("notifications", 3)).toBe(3);
    expect(await ack("notifications", 5)).toBe(5);
    expect(await ack("billing", 1)).toBe(1);
  });

  it("refuses a sequence past the last event with FAILED_PRECONDITION, changing nothing", async () => {
    await ack("notifications", 3);

    const err = await rejectionOf(
      shop.orders.ackEvents({ consumer: "notifications", sequence: 6 }),
    );

    expect([err.code, err.details]).toEqual([
      status.FAILED_PRECONDITION,
      "sequence 6 is past the last event (sequence 5)",
    ]);
    expect(await ack("notifications", 1)).toBe(3);
  });

  it.each([
    ["an empty request", { consumer: "", sequence: 0 }, ["consumer", "sequence"]],
    ["upper-case letters", { consumer: "Notifications", sequence: 1 }, ["consumer"]],
    ["a leading dash", { consumer: "-notifications", sequence: 1 }, ["consumer"]],
    ["an overlong consumer", { consumer: "n".repeat(65), sequence: 1 }, ["consumer"]],
    ["a negative sequence", { consumer: "notifications", sequence: -4 }, ["sequence"]],
  ])("with %s answers INVALID_ARGUMENT naming the field", async (_, request, fields) => {
    const err = await rejectionOf(shop.orders.ackEvents(request));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldsOf(err.details)).toEqual(fields);
  });
});

describe("StreamEvents with bad input", () => {
  let shop: Awaited<ReturnType<typeof startOrders>>;
  beforeEach(async () => {
    shop = await startOrders();
    await endOrders(shop.store, 2);
  });
  afterEach(async () => {
    cancelStreams();
    await shop.close();
  });

  it.each([
    ["an empty consumer", { consumer: "", afterSequence: 0 }, ["consumer"]],
    ["a consumer with a space", { consumer: "my consumer", afterSequence: 0 }, ["consumer"]],
    ["an overlong consumer", { consumer: "c".repeat(65), afterSequence: 0 }, ["consumer"]],
    ["a negative after_sequence", { consumer: "t", afterSequence: -1 }, ["after_sequence"]],
    ["both wrong", { consumer: "", afterSequence: -1 }, ["consumer", "after_sequence"]],
  ])("with %s answers INVALID_ARGUMENT naming the field", async (_, request, fields) => {
    const err = await streamFailure(shop.orders, request.consumer, request.afterSequence);

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(fieldsOf(err.details)).toEqual(fields);
  });

  it("refuses an after_sequence past the last event with FAILED_PRECONDITION", async () => {
    const err = await streamFailure(shop.orders, "t", 3);

    expect([err.code, err.details]).toEqual([
      status.FAILED_PRECONDITION,
      "after_sequence 3 is past the last event (sequence 2)",
    ]);
  });
});

describe("outbox compaction", () => {
  const RETENTION_MS = 1_000;
  const NOW = 100_000;
  const OLD = NOW - 10 * RETENTION_MS;
  let shop: Awaited<ReturnType<typeof startOrders>>;
  let clock: number;
  let compaction: Compaction;

  beforeEach(async () => {
    shop = await startOrders();
    clock = NOW;
    compaction = createCompaction({
      outbox: shop.store.events,
      log: silentLogger(),
      retentionMs: RETENTION_MS,
      now: () => clock,
    });
  });
  afterEach(async () => {
    await compaction.stop();
    cancelStreams();
    await shop.close();
  });

  const ack = (consumer: string, sequence: number) => shop.orders.ackEvents({ consumer, sequence });
  const kept = async (): Promise<number[]> => sequences(await shop.store.events.read(0, 1_000));

  it("deletes only events that every consumer acknowledged and that are past the retention", async () => {
    await endOrders(shop.store, 6, OLD);
    await endOrders(shop.store, 2, NOW - RETENTION_MS / 2);
    await ack("fast", 8);
    await ack("slow", 3);

    // The slower consumer holds back what it has not acknowledged.
    expect(await compaction.runOnce()).toBe(3);
    expect(await kept()).toEqual([4, 5, 6, 7, 8]);

    await ack("slow", 8);
    // Acknowledged by both now, but 7 and 8 are younger than the retention.
    expect(await compaction.runOnce()).toBe(3);
    expect(await kept()).toEqual([7, 8]);

    clock += RETENTION_MS;
    expect(await compaction.runOnce()).toBe(2);
    expect(await kept()).toEqual([]);
  });

  it("deletes nothing while no consumer is registered", async () => {
    await endOrders(shop.store, 3, OLD);

    expect(await compaction.runOnce()).toBe(0);
    expect(await kept()).toEqual([1, 2, 3]);
  });

  it("is held back by a consumer that has streamed but acknowledged nothing", async () => {
    await endOrders(shop.store, 3, OLD);
    await subscribe(shop.orders, "newcomer", 0).take(3);
    await ack("fast", 3);

    expect(await compaction.runOnce()).toBe(0);
    expect(await kept()).toEqual([1, 2, 3]);
  });

  it("leaves a consumer resuming from its acknowledged sequence every later event", async () => {
    await endOrders(shop.store, 10, OLD);
    await ack("a", 4);
    await ack("b", 7);
    expect(await compaction.runOnce()).toBe(4);

    const resumed = subscribe(shop.orders, "a", 4);
    const backlog = await resumed.take(6);
    await endOrders(shop.store, 1);
    const fresh = await resumed.take(1);

    expect(sequences([...backlog, ...fresh])).toEqual(range(5, 11));
    // A consumer starting from 0 begins at the oldest event kept.
    expect(sequences(await subscribe(shop.orders, "late", 0).take(1))).toEqual([5]);
  });

  it("once started, compacts every interval until it is stopped", async () => {
    const periodic = createCompaction({
      outbox: shop.store.events,
      log: silentLogger(),
      intervalMs: 20,
      retentionMs: 0,
    });
    await endOrders(shop.store, 3, Date.now() - 1_000);
    await ack("c", 3);

    periodic.start();
    for (let i = 0; i < 100 && (await kept()).length > 0; i++) await sleep(20);
    await periodic.stop();
    await endOrders(shop.store, 2, Date.now() - 1_000);
    await ack("c", 5);
    await sleep(100);

    expect(await kept()).toEqual([4, 5]);
  });
});
