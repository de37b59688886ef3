import type { JetStreamManager, NatsConnection } from "nats";

/**
 * The NATS client, loaded on first use: a service on the built-in event stream never needs
 * it, and loading it costs every process memory and start-up time (docs/BENCHMARKS.md).
 */
export const loadNats = (): Promise<typeof import("nats")> => import("nats");

/**
 * How long JetStream remembers a published `Nats-Msg-Id`: a relay that restarts and publishes
 * an event again within this window is answered "duplicate" and nothing is stored twice.
 * Defaults to 10 minutes, well past any restart (JetStream's own default is 2 minutes).
 */
export const DEFAULT_DUPLICATE_WINDOW_MS = 10 * 60_000;

/** The JetStream stream holding a producer's events, for example SHOP_ORDERS_EVENTS. */
export const eventStreamName = (producer: string): string =>
  `SHOP_${producer.toUpperCase().replace(/-/g, "_")}_EVENTS`;

/** The subject of one kind of a producer's events: shop.orders.events.ORDER_CONFIRMED. */
export const eventSubject = (producer: string, kind: string): string =>
  `shop.${producer}.events.${kind}`;

/** Every subject of a producer's events. */
export const eventSubjects = (producer: string): string => `shop.${producer}.events.>`;

/** Connects to NATS, reconnecting for ever after the first connection is made. */
export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const { connect } = await loadNats();
  return connect({ servers: url, name, maxReconnectAttempts: -1 });
}

/**
 * Creates the producer's stream (file storage, de-duplication window) unless it exists; a
 * producer and its consumers may all call this, in any order.
 */
export async function ensureEventStream(
  jsm: JetStreamManager,
  producer: string,
  duplicateWindowMs = DEFAULT_DUPLICATE_WINDOW_MS,
): Promise<string> {
  const name = eventStreamName(producer);
  const { nanos, StorageType } = await loadNats();
  try {
    await jsm.streams.info(name);
  } catch {
    try {
      await jsm.streams.add({
        name,
        subjects: [eventSubjects(producer)],
        storage: StorageType.File,
        duplicate_window: nanos(duplicateWindowMs),
      });
    } catch (err) {
      // Another process created it between our two calls: what we wanted.
      const created = await jsm.streams.info(name).then(
        () => true,
        () => false,
      );
      if (!created) throw err;
    }
  }
  return name;
}
