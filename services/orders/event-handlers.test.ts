import { getEventListeners } from "node:events";
import { status } from "@grpc/grpc-js";
import { OrderStatus, type StreamEventsResponse } from "../../gen/shop/orders/v1/orders";
import { openStore, silentLogger, type CallContext, type Store } from "../../mesh";
import { createEventHandlers } from "./event-handlers";
import { migrations } from "./migrations";
import { createOrdersStore, type OrdersStore } from "./store";

// Long, so that only an announcement ends a wait quickly; and odd, because knex arms a timer of
// a minute for each query.
const POLL_INTERVAL_MS = 54_321;

describe("the StreamEvents handler", () => {
  let store: Store;
  let orders: OrdersStore;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    orders = createOrdersStore(store);
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await store.close();
  });

  const endOrder = async (orderId: string): Promise<void> => {
    const { order } = await orders.findOrCreate({
      orderId,
      requestId: orderId,
      fingerprint: "fp",
      userId: "usr_1",
      status: OrderStatus.ORDER_STATUS_PENDING,
      paymentMethod: "tok_visa",
      items: [{ sku: "sku-a", quantity: 1 }],
      createTime: 1_000,
      updateTime: 1_000,
    });
    await orders.finish(
      order,
      { status: OrderStatus.ORDER_STATUS_REJECTED, code: status.NOT_FOUND, reason: "no user" },
      2_000,
    );
  };

  /** The handler's stream, as the mesh iterates it, with the caller's cancellation. */
  const open = (stopping?: AbortSignal) => {
    const caller = new AbortController();
    const handlers = createEventHandlers({
      store: orders,
      eventPollIntervalMs: POLL_INTERVAL_MS,
      stopping,
    });
    const stream = handlers
      .streamEvents({ consumer: "unit", afterSequence: 0 }, {
        signal: caller.signal,
      } as CallContext)
      [Symbol.asyncIterator]();
    return { stream, cancel: () => caller.abort() };
  };

  const sequenceOf = (r: IteratorResult<StreamEventsResponse>): number | undefined =>
    r.done ? undefined : r.value.event?.sequence;

  it("delivers the stored events, waits, and delivers one this process writes at once", async () => {
    await endOrder("ord_1");
    const { stream, cancel } = open();

    expect(sequenceOf(await stream.next())).toBe(1);
    const next = stream.next();
    await endOrder("ord_2");

    // Only the in-process announcement can be this quick.
    expect(sequenceOf(await next)).toBe(2);
    cancel();
    await stream.return?.(undefined);
  });

  it("ends while waiting when the caller cancels, leaving no timer or listener behind", async () => {
    const setTimer = jest.spyOn(global, "setTimeout");
    const clearTimer = jest.spyOn(global, "clearTimeout");
    const stopping = new AbortController().signal;
    const { stream, cancel } = open(stopping);

    const next = stream.next();
    // Each round trip queues behind the handler's own queries on the store's one connection.
    for (let i = 0; i < 200 && orders.events.waiting === 0; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      await store.db.raw("select 1");
    }
    expect(orders.events.waiting).toBe(1);
    cancel();

    expect(await next).toEqual({ done: true, value: undefined });
    const polls = setTimer.mock.calls.flatMap(([, ms], i) =>
      ms === POLL_INTERVAL_MS ? [setTimer.mock.results[i].value as unknown] : [],
    );
    expect(polls).toHaveLength(1);
    expect(clearTimer.mock.calls.map(([timer]) => timer as unknown)).toContain(polls[0]);
    expect(orders.events.waiting).toBe(0);
    expect(getEventListeners(stopping, "abort")).toEqual([]);
  });

  it("ends with UNAVAILABLE when the service begins to stop, and refuses new streams", async () => {
    await endOrder("ord_1");
    const stopping = new AbortController();
    const { stream } = open(stopping.signal);
    expect(sequenceOf(await stream.next())).toBe(1);

    const next = stream.next();
    stopping.abort();

    await expect(next).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      message: expect.stringContaining("sent up to sequence 1") as unknown,
    });
    await expect(open(stopping.signal).stream.next()).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });
});
