import type { NatsConnection } from "nats";
import type { EventsConfig, Logger } from "../../../mesh";
import { backoffDelay, sleep, type BackoffOptions } from "../backoff";
import type { EventCodec, Outbox } from "../outbox";
import { connectNats, ensureEventStream, eventSubject } from "./jetstream";

/** The outbox consumer the relay acknowledges under: its cursor is "published up to here". */
export const RELAY_CONSUMER = "nats-relay";

/** Options for {@link createNatsRelay}. */
export interface NatsRelayOptions<E extends { sequence: number }> {
  /** For example nats://127.0.0.1:4222. */
  url: string;
  /** The producing service, for example "orders": names the stream and the subjects. */
  producer: string;
  outbox: Outbox<E>;
  codec: EventCodec<E>;
  log: Logger;
  /** Outbox rows read at a time. Defaults to 100. */
  batchSize?: number;
  /** How often an idle relay looks for rows another instance wrote. Defaults to 200 ms. */
  pollIntervalMs?: number;
  /** Delays after NATS or the store fails. Defaults to 100 ms doubling to 5 s. */
  backoff?: BackoffOptions;
  /** De-duplication window of the stream when the relay creates it. See jetstream.ts. */
  duplicateWindowMs?: number;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** What the relay has done since it started. */
export interface NatsRelayStatus {
  /** The last sequence marked as published. */
  publishedSequence: number;
  /** Publishes JetStream stored. */
  published: number;
  /** Publishes JetStream answered as duplicates (published before a restart). */
  duplicates: number;
}

/** Publishes a producer's outbox to its JetStream stream, in order, at least once. */
export interface NatsRelay {
  start(): void;
  /** Stops after the publish in progress, then closes the connection. */
  stop(): Promise<void>;
  status(): NatsRelayStatus;
}

const DEFAULT_BATCH_SIZE = 100;
const DEFAULT_POLL_INTERVAL_MS = 200;

/**
 * The relay: reads the outbox after its cursor (an outbox consumer, so compaction keeps every
 * row not yet published), publishes each row on `shop.<producer>.events.<KIND>` with
 * `Nats-Msg-Id` set to the event id, and moves its cursor only after JetStream's publish
 * acknowledgement. A crash between the two publishes the row again; JetStream drops the copy.
 * One row at a time, so the stream holds each producer's events in outbox order.
 */
export function createNatsRelay<E extends { sequence: number }>(
  options: NatsRelayOptions<E>,
): NatsRelay {
  const { url, producer, outbox, codec, log } = options;
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const stopping = new AbortController();
  const state: NatsRelayStatus = { publishedSequence: 0, published: 0, duplicates: 0 };
  let nc: NatsConnection | undefined;
  let loop: Promise<void> | undefined;
  // Failures since events last flowed: the exponent of the backoff.
  let failures = 0;

  async function publishFromCursor(connection: NatsConnection): Promise<void> {
    const stream = await ensureEventStream(
      await connection.jetstreamManager(),
      producer,
      options.duplicateWindowMs,
    );
    const js = connection.jetstream();
    await outbox.register(RELAY_CONSUMER, now());
    while (!stopping.signal.aborted) {
      const seen = outbox.announced;
      const after = await outbox.acknowledged(RELAY_CONSUMER);
      const batch = await outbox.readRecords(after, batchSize);
      for (const record of batch) {
        if (stopping.signal.aborted) return;
        const ack = await js.publish(
          eventSubject(producer, record.kind),
          codec.encode(record.event).finish(),
          { msgID: record.eventId, expect: { streamName: stream } },
        );
        if (ack.duplicate) state.duplicates++;
        else state.published++;
        await outbox.acknowledge(RELAY_CONSUMER, record.sequence, now());
        state.publishedSequence = record.sequence;
        // Flowing again: the next failure starts from the shortest delay.
        failures = 0;
      }
      if (batch.length < batchSize) {
        await outbox.waitForEvents(seen, pollIntervalMs, stopping.signal);
      }
    }
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        nc ??= await connectNats(url, `${producer}-relay`);
        await publishFromCursor(nc);
      } catch (err) {
        if (stopping.signal.aborted) break;
        const retryInMs = backoffDelay(failures++, options.backoff);
        log.warn({ err, producer, retryInMs, ...state }, "NATS relay failed; retrying");
        await sleep(retryInMs, stopping.signal);
      }
    }
  }

  return {
    start() {
      if (loop || stopping.signal.aborted) return;
      log.info({ url, producer }, "relaying the outbox to NATS JetStream");
      loop = run();
    },
    async stop() {
      stopping.abort();
      await loop;
      await nc?.close();
      log.info({ producer, ...state }, "NATS relay stopped");
    },
    status: () => ({ ...state }),
  };
}

/**
 * Starts a relay when `events` (the topology's) says events travel through NATS; returns
 * undefined for the built-in stream, which needs none.
 */
export function startEventRelay<E extends { sequence: number }>(
  events: EventsConfig,
  options: Omit<NatsRelayOptions<E>, "url">,
): NatsRelay | undefined {
  if (events.transport !== "nats") return undefined;
  if (!events.natsUrl) throw new Error("events.natsUrl: required when events.transport is nats");
  const relay = createNatsRelay({ ...options, url: events.natsUrl });
  relay.start();
  return relay;
}
