import { seededRandom } from "../../mesh/api";
import { status } from "@grpc/grpc-js";
import pino from "pino";
import { NotificationKind } from "../../gen/shop/notifications/v1/notifications";
import {
  OrderServiceService,
  OrderStatus,
  type Order,
  type OrderEvent,
  type StreamEventsRequest,
} from "../../gen/shop/orders/v1/orders";
import {
  createPeer,
  openStore,
  silentLogger,
  StatusError,
  type Logger,
  type Peer,
  type ServiceHandlers,
  type Store,
} from "../../mesh";
import { projectPolicy, startTestServer, type TestServer } from "../../test/support";
import { createOrdersConsumer, type OrdersConsumer, type OrdersConsumerOptions } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsStore, type NotificationsStore } from "./store";

/** Resolves once `check` holds, polling; fails the test after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const give = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > give) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const USER = "usr_ada";

function order(sequence: number, overrides: Partial<Order> = {}): Order {
  return {
    orderId: `ord_${sequence}`,
    requestId: `req-${sequence}`,
    userId: USER,
    status: OrderStatus.ORDER_STATUS_CONFIRMED,
    items: [
      { sku: "sku-beans", quantity: 2, unitPrice: { currencyCode: "USD", units: 18, nanos: 5e8 } },
      { sku: "sku-mug", quantity: 1, unitPrice: { currencyCode: "USD", units: 9, nanos: 5e8 } },
    ],
    total: { currencyCode: "USD", units: 46, nanos: 500_000_000 },
    paymentId: `pay_${sequence}`,
    rejectionReason: "",
    createTime: new Date(),
    updateTime: new Date(),
    ...overrides,
  };
}

const confirmed = (sequence: number): OrderEvent => ({
  sequence,
  eventId: `evt_${sequence}`,
  createTime: new Date(),
  orderId: `ord_${sequence}`,
  userId: USER,
  orderConfirmed: { order: order(sequence) },
});

const rejected = (sequence: number, reason: string): OrderEvent => ({
  sequence,
  eventId: `evt_${sequence}`,
  createTime: new Date(),
  orderId: `ord_${sequence}`,
  userId: USER,
  orderRejected: {
    order: order(sequence, {
      status: OrderStatus.ORDER_STATUS_REJECTED,
      total: undefined,
      paymentId: "",
      rejectionReason: reason,
    }),
  },
});

/**
 * A real gRPC server that plays orders' part of the contract: an outbox that outlives
 * restarts, StreamEvents and AckEvents. Its other methods answer UNIMPLEMENTED.
 */
class FakeOrders {
  readonly outbox: OrderEvent[] = [];
  readonly requests: StreamEventsRequest[] = [];
  readonly acks: number[] = [];
  /** Events written to streams, duplicates included. */
  sent = 0;
  /** Streams whose handler is running. */
  open = 0;
  /** Sends every event twice. */
  duplicate = false;
  /** Refuses new streams with UNAVAILABLE, as orders does while it shuts down. */
  refuse = false;
  /** Replays from the oldest event, whatever after_sequence asks for (still at least once). */
  ignoreCursor = false;
  private server!: TestServer;
  private wake = new Set<() => void>();
  // Streams started before the last endStreams() return.
  private generation = 0;

  get address(): string {
    return this.server.address;
  }

  async start(address?: string): Promise<void> {
    this.server = await startTestServer(
      (s) => s.addService(OrderServiceService, this.handlers()),
      address,
    );
  }

  publish(...events: OrderEvent[]): void {
    this.outbox.push(...events);
    this.notify();
  }

  /** Ends every open stream normally, as orders does when it drains. */
  endStreams(): void {
    this.generation++;
    this.notify();
  }

  /** Drops every connection at once, as a crash would. */
  async kill(): Promise<void> {
    this.server.server.grpcServer.forceShutdown();
    this.endStreams();
    await until(() => this.open === 0);
  }

  /** Starts again on the same port. */
  restart(): Promise<void> {
    return this.start(this.address);
  }

  async close(): Promise<void> {
    this.endStreams();
    await this.server.close();
  }

  private notify(): void {
    for (const wake of this.wake) wake();
    this.wake.clear();
  }

  private changed(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        signal.removeEventListener("abort", done);
        this.wake.delete(done);
        resolve();
      };
      this.wake.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  private handlers(): ServiceHandlers<typeof OrderServiceService> {
    const unimplemented = (): Promise<never> =>
      Promise.reject(new StatusError(status.UNIMPLEMENTED, "not in this fake"));
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const fake = this;
    return {
      placeOrder: unimplemented,
      getOrder: unimplemented,
      listOrders: unimplemented,
      async ackEvents(request) {
        fake.acks.push(request.sequence);
        return { acknowledgedSequence: Math.max(0, ...fake.acks) };
      },
      async *streamEvents(request, ctx) {
        fake.requests.push(request);
        if (fake.refuse) throw new StatusError(status.UNAVAILABLE, "orders is shutting down");
        fake.open++;
        const generation = fake.generation;
        const after = fake.ignoreCursor ? 0 : request.afterSequence;
        let next = 0;
        try {
          while (!ctx.signal.aborted && generation === fake.generation) {
            const event = fake.outbox[next];
            if (!event) {
              await fake.changed(ctx.signal);
              continue;
            }
            next++;
            if (event.sequence <= after) continue;
            for (let copy = 0; copy < (fake.duplicate ? 2 : 1); copy++) {
              fake.sent++;
              yield { event };
            }
          }
        } finally {
          fake.open--;
        }
      },
    };
  }
}

describe("orders consumer", () => {
  let fake: FakeOrders;
  let db: Store;
  let store: NotificationsStore;
  let orders: Peer<typeof OrderServiceService>;
  let consumer: OrdersConsumer | undefined;

  beforeEach(async () => {
    fake = new FakeOrders();
    await fake.start();
    db = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    store = createNotificationsStore(db);
    orders = createPeer(OrderServiceService, { target: fake.address, policy: projectPolicy() });
  });
  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    orders.close();
    await fake.close();
    await db.close();
  });

  const startConsumer = (options: Partial<OrdersConsumerOptions> = {}): OrdersConsumer => {
    consumer = createOrdersConsumer({
      store,
      orders,
      log: silentLogger(),
      random: seededRandom(42),
      ...options,
    });
    consumer.start();
    return consumer;
  };
  const cursorReaches = (sequence: number) => async () => (await store.cursor()) >= sequence;
  const all = () => store.list(USER, 1_000, undefined);

  it("turns each event into one notification with the right text", async () => {
    const c = startConsumer();

    fake.publish(confirmed(1), rejected(2, "card declined"));
    await until(cursorReaches(2));

    const [second, first] = await all();
    expect(first).toMatchObject({
      userId: USER,
      orderId: "ord_1",
      eventId: "evt_1",
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED,
      title: "Your order is confirmed",
      body: "Order ord_1 is confirmed: 3 items, 46.50 USD charged. Thank you!",
    });
    expect(second).toMatchObject({
      orderId: "ord_2",
      eventId: "evt_2",
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED,
      title: "Your order was not accepted",
      body: "Order ord_2 was not accepted: card declined. Nothing was reserved or charged.",
    });
    expect(fake.requests).toEqual([{ consumer: "notifications", afterSequence: 0 }]);
    expect(c.status()).toMatchObject({ lastSequence: 2, reconnects: 0 });
    expect(c.status().lastEventAt).toBeGreaterThan(0);
  });

  it("makes one notification of an event delivered twice, and again after a reconnect from an older cursor", async () => {
    fake.duplicate = true;
    startConsumer();
    fake.publish(confirmed(1), confirmed(2), rejected(3, "out of stock"));
    await until(() => fake.sent === 6);
    await until(cursorReaches(3));

    // Orders resends everything from the start on the next stream (at least once, not exactly).
    fake.ignoreCursor = true;
    fake.endStreams();
    await until(() => fake.requests.length === 2 && fake.sent === 12);
    fake.publish(confirmed(4));
    await until(cursorReaches(4));

    const stored = await all();
    expect(stored.map((n) => n.eventId)).toEqual(["evt_4", "evt_3", "evt_2", "evt_1"]);
    expect(fake.requests[1].afterSequence).toBe(3);
    expect(await store.cursor()).toBe(4);
  });

  it("logs a producer that is not serving yet at its start at info, and warns from the next attempt", async () => {
    const retries: { level: number; msg: string }[] = [];
    const log: Logger = pino(
      { level: "info" },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as { level: number; msg: string; retryInMs?: number };
          if (entry.retryInMs !== undefined) retries.push(entry);
        },
      },
    );
    // As when start:all starts notifications before orders listens.
    await fake.kill();
    const c = startConsumer({ log });
    await until(() => c.status().reconnects >= 2);
    await fake.restart();
    fake.publish(confirmed(1));
    await until(cursorReaches(1));
    expect(retries[0]).toMatchObject({
      level: 30,
      msg: "orders event stream not reachable yet; retrying",
    });
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const later of retries.slice(1))
      expect(later).toMatchObject({ level: 40, msg: "orders event stream lost; reconnecting" });
  });

  it("reconnects with growing delays while orders is down, and continues from its cursor with no gap or duplicate", async () => {
    // The delays are read from the consumer's own reconnection warnings.
    const retries: number[] = [];
    const log: Logger = pino(
      { level: "warn" },
      {
        write: (line: string) => {
          const entry = JSON.parse(line) as { msg: string; retryInMs?: number };
          if (entry.retryInMs !== undefined) retries.push(entry.retryInMs);
        },
      },
    );
    const c = startConsumer({ log });
    fake.publish(confirmed(1), confirmed(2));
    await until(cursorReaches(2));

    // Orders ends the stream (a drain): the consumer comes back after the stored cursor.
    fake.endStreams();
    await until(() => fake.requests.length === 2);
    fake.publish(confirmed(3));
    await until(cursorReaches(3));

    // Orders dies, events are written while it is away, then it comes back on the same port.
    const before = retries.length;
    await fake.kill();
    fake.publish(rejected(4, "card declined"), confirmed(5));
    await delay(700);
    const whileDown = retries.slice(before);
    await fake.restart();
    await until(cursorReaches(5));

    const stored = await all();
    expect(stored.map((n) => n.eventId)).toEqual(["evt_5", "evt_4", "evt_3", "evt_2", "evt_1"]);
    expect(fake.requests.map((r) => r.afterSequence)).toEqual([0, 2, 3]);
    // 100 ms doubling, ±20%: each wait longer than the one before while nothing comes through.
    expect(whileDown.length).toBeGreaterThanOrEqual(2);
    expect(whileDown[0]).toBeLessThanOrEqual(120);
    for (let i = 1; i < whileDown.length; i++)
      expect(whileDown[i]).toBeGreaterThan(whileDown[i - 1]);
    expect(c.status().reconnects).toBe(retries.length);
  });

  it("retries an event whose write failed from the cursor, recording it once, and drops the failed stream", async () => {
    let failures = 1;
    const flaky: NotificationsStore = {
      ...store,
      record: (processed, now) =>
        failures-- > 0
          ? Promise.reject(new Error("SQLITE_IOERR: disk I/O error"))
          : store.record(processed, now),
    };
    startConsumer({ store: flaky });

    fake.publish(confirmed(1), confirmed(2));
    await until(cursorReaches(2));

    expect((await all()).map((n) => n.eventId)).toEqual(["evt_2", "evt_1"]);
    expect(fake.requests.map((r) => r.afterSequence)).toEqual([0, 0]);
    // The stream left by the failure was cancelled, not abandoned open.
    await until(() => fake.open === 1);
  });

  it("acknowledges the cursor to orders every ackEveryMs", async () => {
    const c = startConsumer({ ackEveryMs: 50 });

    fake.publish(confirmed(1), confirmed(2));
    await until(() => fake.acks.includes(2));
    fake.publish(confirmed(3));
    await until(() => c.status().acknowledgedSequence === 3);

    // Each acknowledgement moves forward; an unchanged cursor is not sent again.
    expect(fake.acks.at(-1)).toBe(3);
    expect(fake.acks).toEqual([...new Set(fake.acks)].sort((a, b) => a - b));
  });

  it("acknowledges the cursor once more when it stops", async () => {
    const c = startConsumer({ ackEveryMs: 60_000 });
    fake.publish(confirmed(1), confirmed(2));
    await until(cursorReaches(2));

    await c.stop();

    expect(fake.acks).toEqual([2]);
  });

  // Timers that keep the process alive (grpc-js unrefs its own). Others come and go (a server
  // closing from the previous test), so the count is awaited to fall back, not compared once:
  // a leaked timer of the consumer (a repeating ack, a 30 s backoff) would keep it up.
  const timers = (): number =>
    process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
  const noTimerLeftAbove = (before: number) => until(() => timers() <= before, 2_000);

  it("stops cleanly: the stream is cancelled and no timer is left behind", async () => {
    const before = timers();
    const c = startConsumer({ ackEveryMs: 30_000 });
    fake.publish(confirmed(1));
    await until(cursorReaches(1));

    await c.stop();

    await until(() => fake.open === 0, 2_000);
    await noTimerLeftAbove(before);
    const requests = fake.requests.length;
    fake.publish(confirmed(2));
    await delay(200);
    expect(fake.requests.length).toBe(requests);
    expect(await store.cursor()).toBe(1);
  });

  it("stops at once while it waits to reconnect, leaving no timer behind", async () => {
    const before = timers();
    fake.refuse = true;
    const c = startConsumer({ backoff: { initialMs: 30_000 } });
    await until(() => c.status().reconnects === 1);

    const began = Date.now();
    await c.stop();

    expect(Date.now() - began).toBeLessThan(1_000);
    await noTimerLeftAbove(before);
  });
});
