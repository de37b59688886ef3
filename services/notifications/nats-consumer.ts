import type { ConsumerMessages, NatsConnection } from "nats";
import { backoffDelay, sleep, type BackoffOptions } from "../common/backoff";
import { connectNats, ensureEventStream, eventSubjects, loadNats } from "../common/nats/jetstream";
import type { EventCodec } from "../common/outbox";
import {
  createEventRecorder,
  type EventRecorderOptions,
  type RecorderState,
  type StreamEvent,
} from "./recorder";

/** Options for {@link createNatsConsumer}. */
export interface NatsConsumerOptions<E extends StreamEvent> extends EventRecorderOptions<E> {
  /** For example nats://127.0.0.1:4222. */
  url: string;
  /** The JetStream durable consumer's name, for example "notifications". */
  durable: string;
  codec: EventCodec<E>;
  /**
   * How long JetStream waits for an acknowledgement before delivering a message again (this
   * process died, or is stuck). Applied when the durable consumer is created. Defaults to 30 s.
   */
  ackWaitMs?: number;
  /**
   * Messages delivered and not yet acknowledged. 1, the default, keeps each producer's order
   * even across redeliveries, at one round trip per event.
   */
  maxAckPending?: number;
  /** Delays after NATS or the store fails. Defaults to 100 ms doubling to 5 s. */
  backoff?: BackoffOptions;
}

/** Where the consumer is, for logs and tests. */
export interface NatsConsumerStatus extends RecorderState {
  /** Events recorded and acknowledged. */
  acknowledged: number;
  /** Deliveries JetStream marked as redelivered. */
  redeliveries: number;
}

/** Turns a producer's JetStream stream into notifications, exactly one per event. */
export interface NatsConsumer {
  start(): void;
  /** Stops after the event in progress (acknowledged) and closes the connection. */
  stop(): Promise<void>;
  status(): NatsConsumerStatus;
}

const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1;

/**
 * A durable pull consumer with explicit acknowledgement: each message is acknowledged (and
 * the server's receipt awaited) only after the notifications transaction has committed. A
 * crash in between gets it delivered again, and the store's unique event id makes that a
 * no-op, so each event is in the store exactly once.
 */
export function createNatsConsumer<E extends StreamEvent>(
  options: NatsConsumerOptions<E>,
): NatsConsumer {
  const { url, durable, codec, log, stream: producer } = options;
  const recorder = createEventRecorder(options);
  const stopping = new AbortController();
  let nc: NatsConnection | undefined;
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  // Failures since events last flowed: the exponent of the backoff.
  let failures = 0;
  let acknowledged = 0;
  let redeliveries = 0;

  async function consumeOnce(connection: NatsConnection): Promise<void> {
    const jsm = await connection.jetstreamManager();
    const stream = await ensureEventStream(jsm, producer);
    const { AckPolicy, DeliverPolicy, nanos } = await loadNats();
    // Adding a durable consumer that exists with the same configuration changes nothing.
    await jsm.consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: eventSubjects(producer),
      ack_wait: nanos(options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
      max_ack_pending: options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
    });
    const consumer = await connection.jetstream().consumers.get(stream, durable);
    messages = await consumer.consume();
    if (stopping.signal.aborted) messages.stop();
    for await (const message of messages) {
      if (message.redelivered) redeliveries++;
      try {
        await recorder.record(codec.decode(message.data));
      } catch (err) {
        // Delivered again at once, rather than after the acknowledgement wait.
        message.nak();
        throw err;
      }
      await message.ackAck();
      acknowledged++;
      // Flowing again: the next failure starts from the shortest delay.
      failures = 0;
    }
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      try {
        nc ??= await connectNats(url, `notifications-${producer}`);
        await consumeOnce(nc);
      } catch (err) {
        if (stopping.signal.aborted) break;
        const retryInMs = backoffDelay(failures++, options.backoff);
        log.warn({ err, producer, retryInMs }, "NATS consumer failed; retrying");
        await sleep(retryInMs, stopping.signal);
      }
    }
  }

  return {
    start() {
      if (loop || stopping.signal.aborted) return;
      log.info({ url, producer, durable }, "consuming events from NATS JetStream");
      loop = run();
    },
    async stop() {
      stopping.abort();
      messages?.stop();
      await loop;
      await nc?.close();
    },
    status: () => ({ ...recorder.state, acknowledged, redeliveries }),
  };
}
