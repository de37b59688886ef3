/**
 * The notifications NATS consumer of the payments stream, alone in a process, so that a test
 * can SIGKILL it at a chosen moment. Environment: NATS_URL, STORE_FILE, ACK_WAIT_MS, and
 * CRASH_AFTER=n to SIGKILL itself right after the n-th event's transaction committed and before
 * its acknowledgement. On SIGTERM it stops and prints its status as JSON.
 */
import { PaymentEvent } from "../gen/shop/payments/v1/payments";
import { openStore, silentLogger } from "../mesh";
import { CONSUMER } from "../services/notifications/consumer";
import { refundNotificationOf } from "../services/notifications/messages";
import { migrations } from "../services/notifications/migrations";
import { createNatsConsumer } from "../services/notifications/nats-consumer";
import { createNotificationsStore, PAYMENTS_STREAM } from "../services/notifications/store";

async function main(): Promise<void> {
  const env = process.env;
  const store = await openStore({ file: env.STORE_FILE!, migrations, durability: "full" });
  const notifications = createNotificationsStore(store);
  const crashAfter = env.CRASH_AFTER ? Number(env.CRASH_AFTER) : Infinity;
  let recorded = 0;
  const consumer = createNatsConsumer({
    url: env.NATS_URL!,
    durable: CONSUMER,
    stream: PAYMENTS_STREAM,
    codec: PaymentEvent,
    notificationOf: refundNotificationOf,
    ackWaitMs: Number(env.ACK_WAIT_MS),
    log: silentLogger(),
    store: {
      ...notifications,
      async record(processed, now) {
        const inserted = await notifications.record(processed, now);
        if (++recorded >= crashAfter) process.kill(process.pid, "SIGKILL");
        return inserted;
      },
    },
  });
  consumer.start();
  process.once("SIGTERM", () => {
    void consumer.stop().then(async () => {
      await store.close();
      process.stdout.write(JSON.stringify(consumer.status()));
      process.exit(0);
    });
  });
}

void main();
