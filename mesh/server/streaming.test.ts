import { status } from "@grpc/grpc-js";
import { OrderServiceService, type StreamEventsResponse } from "../../gen/shop/orders/v1/orders";
import { createPeer, silentLogger, StatusError, type CallContext, type Peer } from "..";
import { createMeshServer, type MeshServer } from "./server";
import { loadTopology } from "../config/topology";

type Orders = Peer<typeof OrderServiceService>;
const policy = loadTopology({}).policy;
const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "not here"));
const event = (sequence: number, padding = ""): StreamEventsResponse => ({
  event: {
    sequence,
    eventId: `evt_${sequence}${padding}`,
    orderId: "ord_1",
    userId: "usr_1",
    createTime: undefined,
  },
});

/** A server whose StreamEvents is `stream`; the other methods are unimplemented. */
async function serve(
  stream: (req: { afterSequence: number }, ctx: CallContext) => AsyncIterable<StreamEventsResponse>,
) {
  const server: MeshServer = createMeshServer({ log: silentLogger(), shutdownGraceMs: 200 });
  server.addService(OrderServiceService, {
    placeOrder: unimplemented,
    getOrder: unimplemented,
    listOrders: unimplemented,
    ackEvents: unimplemented,
    streamEvents: stream,
  });
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  const orders: Orders = createPeer(OrderServiceService, { target: `127.0.0.1:${port}`, policy });
  return { orders, close: async () => (orders.close(), await server.shutdown()) };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("server streams", () => {
  it("delivers every item in order and then ends", async () => {
    const { orders, close } = await serve(async function* (req) {
      for (let i = req.afterSequence + 1; i <= req.afterSequence + 5; i++) yield event(i);
    });
    try {
      const seen: number[] = [];
      for await (const r of orders.streamEvents({ consumer: "t", afterSequence: 10 }))
        seen.push(r.event!.sequence);

      expect(seen).toEqual([11, 12, 13, 14, 15]);
    } finally {
      await close();
    }
  });

  it("ends with the handler's status after the items it yielded", async () => {
    const { orders, close } = await serve(async function* () {
      yield event(1);
      throw new StatusError(status.FAILED_PRECONDITION, "stop here");
    });
    try {
      const seen: number[] = [];
      const err = await (async () => {
        for await (const r of orders.streamEvents({ consumer: "t", afterSequence: 0 }))
          seen.push(r.event!.sequence);
      })().then(
        () => undefined,
        (e: { code: number; details: string }) => e,
      );

      expect(seen).toEqual([1]);
      expect(err).toMatchObject({ code: status.FAILED_PRECONDITION, details: "stop here" });
    } finally {
      await close();
    }
  });

  it("makes a fast producer wait for a slow consumer instead of buffering everything", async () => {
    const TOTAL = 5_000;
    let produced = 0;
    const padding = "x".repeat(1_000);
    const { orders, close } = await serve(async function* () {
      for (let i = 1; i <= TOTAL; i++) {
        produced = i;
        yield event(i, padding);
      }
    });
    try {
      const iterator = orders
        .streamEvents({ consumer: "t", afterSequence: 0 })
        [Symbol.asyncIterator]();
      await iterator.next();
      await sleep(300);
      const producedWhileWaiting = produced;

      let received = 1;
      while (!(await iterator.next()).done) received++;

      // 5 MB of events; HTTP/2 flow control lets only a window's worth run ahead.
      expect(producedWhileWaiting).toBeLessThan(TOTAL / 2);
      expect(received).toBe(TOTAL);
    } finally {
      await close();
    }
  });

  it("stops the handler when the client cancels", async () => {
    let finished = false;
    let aborted = false;
    const { orders, close } = await serve(async function* (_req, ctx) {
      try {
        yield event(1);
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => resolve(), { once: true }),
        );
        aborted = ctx.signal.aborted;
      } finally {
        finished = true;
      }
    });
    try {
      const controller = new AbortController();
      const err = await (async () => {
        for await (const r of orders.streamEvents(
          { consumer: "t", afterSequence: 0 },
          { signal: controller.signal },
        )) {
          if (r.event!.sequence === 1) controller.abort();
        }
      })().then(
        () => undefined,
        (e: { code: number }) => e,
      );

      expect(err).toMatchObject({ code: status.CANCELLED });
      for (let i = 0; i < 50 && !finished; i++) await sleep(10);
      expect([aborted, finished]).toEqual([true, true]);
    } finally {
      await close();
    }
  });
});
