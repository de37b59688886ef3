import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotificationKind, type Notification } from "../../gen/shop/notifications/v1/notifications";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { createCompaction } from "../../services/common/outbox";
import {
  CONSUMER,
  createPaymentsConsumer,
  type StreamConsumer,
} from "../../services/notifications/consumer";
import { migrations as notificationsMigrations } from "../../services/notifications/migrations";
import {
  createNotificationsStore,
  PAYMENTS_STREAM,
  type NotificationsStore,
} from "../../services/notifications/store";
import { migrations as paymentsMigrations } from "../../services/payments/migrations";
import { createPaymentsService } from "../../services/payments/service";
import { createPaymentsStore, type PaymentsStore } from "../../services/payments/store";
import { projectPolicy, startTestServer, type TestServer } from "../support";

/** Resolves once `check` holds, polling; fails the test after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const give = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > give) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const USER = "usr_ada";
const eur = (units: number, nanos = 0) => ({ currencyCode: "EUR", units, nanos });

/** The payments service on a SQLite file, served on `address`; stop() is a restart's first half. */
async function startPayments(file: string, address?: string) {
  const store: Store = await openStore({
    file,
    migrations: paymentsMigrations,
    log: silentLogger(),
  });
  const payments: PaymentsStore = createPaymentsStore(store);
  const stopping = new AbortController();
  const service = createPaymentsService({ store: payments, stopping: stopping.signal });
  const server: TestServer = await startTestServer(
    (s) => s.addService(PaymentServiceService, service),
    address,
  );
  return {
    payments,
    address: server.address,
    async stop() {
      stopping.abort();
      await server.close();
      await store.close();
    },
  };
}

describe("payments events, through the payments event stream", () => {
  let dir: string;
  let producer: Awaited<ReturnType<typeof startPayments>>;
  let peer: Peer<typeof PaymentServiceService>;
  let notificationsStore: Store;
  let notifications: NotificationsStore;
  let consumer: StreamConsumer;

  const startConsumer = (): void => {
    consumer = createPaymentsConsumer({
      store: notifications,
      payments: peer,
      log: silentLogger(),
      ackEveryMs: 50,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    consumer.start();
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "payments-events-"));
    producer = await startPayments(join(dir, "payments.db"));
    peer = createPeer(PaymentServiceService, { target: producer.address, policy: projectPolicy() });
    notificationsStore = await openStore({
      file: join(dir, "notifications.db"),
      migrations: notificationsMigrations,
      log: silentLogger(),
    });
    notifications = createNotificationsStore(notificationsStore);
    startConsumer();
  });
  afterEach(async () => {
    await consumer.stop();
    peer.close();
    await producer.stop();
    await notificationsStore.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const listed = (): Promise<Notification[]> => notifications.list(USER, 100, undefined);
  const charge = async (orderId: string, units: number): Promise<string> =>
    (await peer.charge({ orderId, userId: USER, amount: eur(units), paymentMethod: "" })).payment!
      .paymentId;
  const refund = (refundId: string, paymentId: string, units: number, nanos = 0) =>
    peer.refund({ refundId, paymentId, amount: eur(units, nanos), reason: "" });

  it("writes PaymentCaptured and PaymentRefunded in order, and a refund becomes one notification", async () => {
    const paymentId = await charge("ord_1", 40);
    await refund("ref_1", paymentId, 12, 500_000_000);
    // Retried by the caller: the same refund, no second event.
    await refund("ref_1", paymentId, 12, 500_000_000);

    await until(async () => (await notifications.cursor(PAYMENTS_STREAM)) === 2);
    const events = await producer.payments.events.read(0, 10);
    expect(events.map((e) => [e.sequence, e.paymentCaptured ? "captured" : "refunded"])).toEqual([
      [1, "captured"],
      [2, "refunded"],
    ]);
    expect(events[1].paymentRefunded).toMatchObject({ refundId: "ref_1", amount: eur(12, 5e8) });
    const [only, ...others] = await listed();
    expect(others).toEqual([]);
    expect(only).toMatchObject({
      kind: NotificationKind.NOTIFICATION_KIND_PAYMENT_REFUNDED,
      orderId: "ord_1",
      eventId: events[1].eventId,
      body: "Your payment for order ord_1 was refunded: 12.50 EUR.",
    });
  });

  it("records one notification per refund when the stream delivers it twice (cursor lost)", async () => {
    const paymentId = await charge("ord_2", 30);
    await refund("ref_a", paymentId, 10);
    await refund("ref_b", paymentId, 5);
    await until(async () => (await listed()).length === 2);
    await consumer.stop();

    // The cursor goes back to the start: every event is delivered a second time.
    await notificationsStore.db("consumer_cursor").where({ stream: PAYMENTS_STREAM }).delete();
    startConsumer();
    await until(async () => (await notifications.cursor(PAYMENTS_STREAM)) === 3);

    const rows = await listed();
    expect(rows.map((n) => n.body).sort()).toEqual([
      "Your payment for order ord_2 was refunded: 10.00 EUR.",
      "Your payment for order ord_2 was refunded: 5.00 EUR.",
    ]);
  });

  it("keeps its outbox across a restart, and the consumer reconnects and resumes without a gap or duplicate", async () => {
    const paymentId = await charge("ord_3", 50);
    await refund("ref_1", paymentId, 10);
    await until(async () => (await listed()).length === 1);

    await producer.stop();
    // While payments is away the consumer retries with backoff.
    await until(() => consumer.status().reconnects > 1);
    producer = await startPayments(join(dir, "payments.db"), producer.address);
    // The channel may still be backing off from the outage; Refund is idempotent on its id.
    await until(() =>
      refund("ref_2", paymentId, 15).then(
        () => true,
        () => false,
      ),
    );

    await until(async () => (await listed()).length === 2);
    expect((await producer.payments.events.read(0, 10)).map((e) => e.sequence)).toEqual([1, 2, 3]);
    const rows = await listed();
    expect(new Set(rows.map((n) => n.eventId)).size).toBe(2);
    expect(await notifications.cursor(PAYMENTS_STREAM)).toBe(3);
  });

  it("compacts only what the consumer acknowledged, however old the rest is", async () => {
    const paymentId = await charge("ord_4", 50);
    await refund("ref_1", paymentId, 10);
    await until(async () => (await listed()).length === 1);
    await until(() => consumer.status().acknowledgedSequence === 2);
    await consumer.stop();
    // Written while the consumer is down: never acknowledged.
    await refund("ref_2", paymentId, 10);
    const compaction = createCompaction({
      outbox: producer.payments.events,
      log: silentLogger(),
      retentionMs: 0,
      now: () => Date.now() + 60_000,
    });

    expect(await compaction.runOnce()).toBe(2);

    expect((await producer.payments.events.read(0, 10)).map((e) => e.sequence)).toEqual([3]);
    expect(await producer.payments.events.acknowledged(CONSUMER)).toBe(2);
    startConsumer();
    await until(async () => (await listed()).length === 2);
  });
});
