import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "nats";
import { PaymentEvent } from "../../gen/shop/payments/v1/payments";
import { openStore, silentLogger, type CallContext, type Store } from "../../mesh";
import { projectRoot } from "../../mesh/config";
import { eventStreamName } from "../../services/common/nats/jetstream";
import { createNatsRelay, RELAY_CONSUMER, type NatsRelay } from "../../services/common/nats/relay";
import { CONSUMER } from "../../services/notifications/consumer";
import { refundNotificationOf } from "../../services/notifications/messages";
import { migrations as notificationsMigrations } from "../../services/notifications/migrations";
import { createNatsConsumer } from "../../services/notifications/nats-consumer";
import {
  createNotificationsStore,
  PAYMENTS_STREAM,
  type NotificationsStore,
} from "../../services/notifications/store";
import { migrations as paymentsMigrations } from "../../services/payments/migrations";
import { createPaymentsService } from "../../services/payments/service";
import { createPaymentsStore, type PaymentsStore } from "../../services/payments/store";
import { natsServerAvailable, startNatsServer, type TestNatsServer } from "../nats-server";

/** Resolves once `check` holds, polling; fails the test after `timeoutMs`. */
async function until(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const give = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > give) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const PAYMENTS = 8;
// Each payment is captured then refunded: two events.
const EVENTS = 2 * PAYMENTS;
const describeNats = natsServerAvailable() ? describe : describe.skip;

describeNats("events through NATS JetStream (a real nats-server)", () => {
  let nats: TestNatsServer;
  let dir: string;
  let paymentsDb: Store;
  let payments: PaymentsStore;
  let nc: NatsConnection;
  const relays: NatsRelay[] = [];

  beforeEach(async () => {
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), "nats-events-"));
    paymentsDb = await openStore({
      file: join(dir, "payments.db"),
      migrations: paymentsMigrations,
      log: silentLogger(),
    });
    payments = createPaymentsStore(paymentsDb);
    const service = createPaymentsService({ store: payments });
    const ctx = {} as CallContext;
    for (let i = 1; i <= PAYMENTS; i++) {
      const amount = { currencyCode: "EUR", units: 10 + i, nanos: 0 };
      const { payment } = await service.charge(
        { orderId: `ord_${i}`, userId: "usr_ada", amount, paymentMethod: "" },
        ctx,
      );
      await service.refund(
        { refundId: `ref_${i}`, paymentId: payment!.paymentId, amount, reason: "" },
        ctx,
      );
    }
    nc = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const relay of relays.splice(0)) await relay.stop();
    await nc.close();
    await paymentsDb.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const startRelay = (): NatsRelay => {
    const relay = createNatsRelay({
      url: nats.url,
      producer: "payments",
      outbox: payments.events,
      codec: PaymentEvent,
      log: silentLogger(),
      batchSize: 3,
    });
    relays.push(relay);
    relay.start();
    return relay;
  };

  /** The producer sequences of the stream's messages, in the stream's order. */
  const streamed = async (): Promise<number[]> => {
    const jsm = await nc.jetstreamManager();
    const name = eventStreamName("payments");
    const { state } = await jsm.streams.info(name);
    const sequences: number[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
      sequences.push(
        PaymentEvent.decode((await jsm.streams.getMessage(name, { seq })).data).sequence,
      );
    }
    return sequences;
  };

  it("publishes each outbox row once, in order, even when a relay restarts and publishes rows again", async () => {
    const first = startRelay();
    await until(() => first.status().publishedSequence >= 6);
    await first.stop();
    // As if it had died after JetStream's acknowledgements and before marking rows 4 to 6.
    await paymentsDb.db("event_consumers").where({ consumer: RELAY_CONSUMER }).update({
      acknowledged_sequence: 3,
    });

    const second = startRelay();
    await until(() => second.status().publishedSequence === EVENTS);

    expect(second.status().duplicates).toBeGreaterThanOrEqual(3);
    expect(await streamed()).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    expect(await payments.events.acknowledged(RELAY_CONSUMER)).toBe(EVENTS);
  });

  describe("the notifications consumer", () => {
    let notificationsDb: Store;
    let notifications: NotificationsStore;

    beforeEach(async () => {
      notificationsDb = await openStore({
        file: join(dir, "notifications.db"),
        migrations: notificationsMigrations,
        durability: "full",
        log: silentLogger(),
      });
      notifications = createNotificationsStore(notificationsDb);
      const relay = startRelay();
      await until(() => relay.status().publishedSequence === EVENTS);
    });
    afterEach(() => notificationsDb.close());

    const refundsStored = async (): Promise<string[]> =>
      (await notificationsDb.db<{ event_id: string }>("notifications").select("event_id")).map(
        (r) => r.event_id,
      );

    it("records the events in the producer's order, a refund as one notification", async () => {
      const seen: number[] = [];
      const consumer = createNatsConsumer({
        url: nats.url,
        durable: CONSUMER,
        stream: PAYMENTS_STREAM,
        codec: PaymentEvent,
        notificationOf: refundNotificationOf,
        log: silentLogger(),
        store: {
          ...notifications,
          record: (processed, now) => (
            seen.push(processed.sequence),
            notifications.record(processed, now)
          ),
        },
      });
      consumer.start();
      await until(() => consumer.status().acknowledged === EVENTS);
      await consumer.stop();

      expect(seen).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
      expect(await refundsStored()).toHaveLength(PAYMENTS);
    });

    /** Runs the consumer in its own process; resolves to how it ended and what it printed. */
    const runConsumer = (env: Record<string, string>) => {
      const child = spawn(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", join("test", "nats-consumer-process.ts")],
        {
          cwd: projectRoot(),
          env: {
            ...process.env,
            NATS_URL: nats.url,
            STORE_FILE: join(dir, "notifications.db"),
            ACK_WAIT_MS: "1000",
            ...env,
          },
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      const ended = new Promise<{ signal: NodeJS.Signals | null; out: string }>((resolve) =>
        child.once("exit", (_code, signal) => resolve({ signal, out })),
      );
      return { child, ended };
    };

    // Two processes that compile TypeScript (ts-node) and a redelivery: about 22 s with a load
    // average of 10 on 2 cores, too close to jest's default of 30 s (it failed CI once).
    it("stores each event exactly once when killed after its transaction and before its acknowledgement", async () => {
      // Dies right after recording the third event (a capture, a refund, a capture).
      const crashing = runConsumer({ CRASH_AFTER: "3" });
      let again: ReturnType<typeof runConsumer> | undefined;
      try {
        expect((await crashing.ended).signal).toBe("SIGKILL");
        expect(await notifications.cursor(PAYMENTS_STREAM)).toBe(3);

        again = runConsumer({});
        await until(async () => (await notifications.cursor(PAYMENTS_STREAM)) === EVENTS, 60_000);
        again.child.kill("SIGTERM");
        const status = JSON.parse((await again.ended).out) as { redeliveries: number };

        // The third event was delivered again, and made nothing new.
        expect(status.redeliveries).toBeGreaterThanOrEqual(1);
        const stored = await refundsStored();
        expect(stored).toHaveLength(PAYMENTS);
        expect(new Set(stored).size).toBe(PAYMENTS);
      } finally {
        // A consumer left running would keep jest from exiting once this test failed.
        for (const run of [crashing, again])
          if (run?.child.exitCode === null) run.child.kill("SIGKILL");
      }
    }, 120_000);
  });
});
