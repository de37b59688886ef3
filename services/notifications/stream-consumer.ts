import { status } from "@grpc/grpc-js";
import type { Notification } from "../../gen/shop/notifications/v1/notifications";
import {
  isGrpcError,
  newId,
  type Logger,
  type PeerCallOptions,
  type StreamCallOptions,
} from "../../mesh";
import { backoffDelay, type BackoffOptions } from "./backoff";
import type { NotificationsStore } from "./store";

/** What every event stream delivers: a position, an id to de-duplicate on, a time. */
export interface StreamEvent {
  sequence: number;
  eventId: string;
  createTime?: Date | undefined;
}

/** A producer's StreamEvents and AckEvents, as a mesh Peer has them. */
export interface EventSource<E> {
  streamEvents(
    request: { consumer: string; afterSequence: number },
    options?: StreamCallOptions,
  ): AsyncIterable<{ event?: E | undefined }>;
  ackEvents(
    request: { consumer: string; sequence: number },
    options?: PeerCallOptions,
  ): Promise<unknown>;
}

/** Options for {@link createStreamConsumer}. */
export interface StreamConsumerOptions<E extends StreamEvent> {
  /** The producer, for example "orders": the stream's name in the cursor table and logs. */
  stream: string;
  /** The name this consumer streams and acknowledges under. */
  consumer: string;
  source: EventSource<E>;
  store: NotificationsStore;
  /** The notification an event becomes, or undefined for none (the cursor still moves). */
  notificationOf(event: E, notificationId: string, createTime: Date): Notification | undefined;
  log: Logger;
  /** How often the cursor is acknowledged to the producer (and once more on stop). Defaults to 1 second. */
  ackEveryMs?: number;
  /** Reconnection delays after the stream ends or fails. Defaults to 100 ms doubling to 5 s. */
  backoff?: BackoffOptions;
  /** Numbers in [0, 1) for the backoff's jitter. Defaults to Math.random. */
  random?: () => number;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** Where the consumer is, for logs and tests. */
export interface ConsumerStatus {
  /** Sequence of the last event recorded (the cursor); 0 before the first. */
  lastSequence: number;
  /** When the last event was recorded, in epoch milliseconds; undefined before the first. */
  lastEventAt: number | undefined;
  /** How long after the producer wrote it the last event was recorded, in milliseconds. */
  lagMs: number | undefined;
  /** The last sequence the producer has accepted an acknowledgement for. */
  acknowledgedSequence: number;
  /** Streams that ended or failed and were opened again since start. */
  reconnects: number;
}

/** Turns a producer's event stream into notifications, exactly one per event. */
export interface StreamConsumer {
  /** Reads the cursor and streams from it, reconnecting until stopped. */
  start(): void;
  /** Cancels the stream, waits for the event in progress, then acknowledges the cursor. */
  stop(): Promise<void>;
  status(): ConsumerStatus;
}

const DEFAULT_ACK_EVERY_MS = 1_000;
// The acknowledgement on stop must not hold up a shutdown for long; the next start resends it.
const FINAL_ACK_TIMEOUT_MS = 1_000;

// How a stream ends when the producer restarts, drains, sheds or is out of reach.
const TRANSIENT = new Set<status>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.RESOURCE_EXHAUSTED,
]);

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Consumes one producer's event stream from a durable cursor (in the notifications store),
 * recording each event once, reconnecting with backoff, acknowledging the cursor regularly.
 */
export function createStreamConsumer<E extends StreamEvent>(
  options: StreamConsumerOptions<E>,
): StreamConsumer {
  const { store, source, log, stream: name, consumer } = options;
  const now = options.now ?? Date.now;
  const ackEveryMs = options.ackEveryMs ?? DEFAULT_ACK_EVERY_MS;
  const stopping = new AbortController();
  let stream: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let ackTimer: NodeJS.Timeout | undefined;
  let acking: Promise<void> = Promise.resolve();
  // Reconnections since the last event recorded: the exponent of the backoff.
  let failures = 0;
  const state: ConsumerStatus = {
    lastSequence: 0,
    lastEventAt: undefined,
    lagMs: undefined,
    acknowledgedSequence: 0,
    reconnects: 0,
  };

  async function handle(event: E): Promise<void> {
    if (event.sequence < 1 || event.eventId === "") {
      log.error({ sequence: event.sequence, eventId: event.eventId }, "malformed event skipped");
      return;
    }
    const at = now();
    const notification = options.notificationOf(event, newId("ntf", at), new Date(at));
    if (!notification) log.warn({ sequence: event.sequence }, "event of an unknown kind skipped");
    const inserted = await store.record(
      { stream: name, sequence: event.sequence, notification },
      at,
    );
    state.lastSequence = Math.max(state.lastSequence, event.sequence);
    state.lastEventAt = at;
    state.lagMs = event.createTime ? at - event.createTime.getTime() : undefined;
    log.debug({ sequence: event.sequence, eventId: event.eventId, inserted }, "event recorded");
  }

  /** One stream, from the stored cursor until it ends or fails. */
  async function readStream(signal: AbortSignal): Promise<void> {
    state.lastSequence = Math.max(state.lastSequence, await store.cursor(name));
    const afterSequence = state.lastSequence;
    // Info once per outage, not at every attempt while the producer is away.
    const level = failures === 0 ? "info" : "debug";
    log[level]({ stream: name, afterSequence }, `reading the ${name} event stream`);
    for await (const { event } of source.streamEvents({ consumer, afterSequence }, { signal })) {
      if (!event) continue;
      await handle(event);
      // Events flow again: the next reconnection starts from the shortest delay.
      failures = 0;
    }
  }

  async function consume(): Promise<void> {
    while (!stopping.signal.aborted) {
      const current = new AbortController();
      stream = current;
      let fields: Record<string, unknown> = { ended: true };
      let expected = true;
      try {
        await readStream(current.signal);
      } catch (err) {
        if (stopping.signal.aborted) break;
        fields = isGrpcError(err) ? { code: err.code, details: err.details } : { err };
        expected = isGrpcError(err) && TRANSIENT.has(err.code);
      } finally {
        // Leaving the loop early (a store error) does not end a grpc-js stream; cancel() does.
        current.abort();
      }
      if (stopping.signal.aborted) break;
      const retryInMs = backoffDelay(failures++, options.backoff, options.random);
      state.reconnects++;
      const entry = { ...fields, stream: name, retryInMs, lastSequence: state.lastSequence };
      if (expected) log.warn(entry, `${name} event stream lost; reconnecting`);
      // Not a restart: a refused cursor (the producer's store replaced), a store failure, a
      // bug. Retrying still ends it if it passes; until then it is an error for an operator.
      else log.error(entry, `${name} event stream failed; retrying`);
      await sleep(retryInMs, stopping.signal);
    }
  }

  async function ack(timeoutMs?: number): Promise<void> {
    const sequence = state.lastSequence;
    // The contract wants at least 1, and acknowledging the same sequence again is pointless.
    if (sequence < 1 || sequence <= state.acknowledgedSequence) return;
    try {
      await source.ackEvents({ consumer, sequence }, { timeoutMs });
      state.acknowledgedSequence = Math.max(state.acknowledgedSequence, sequence);
    } catch (err) {
      const fields = isGrpcError(err) ? { code: err.code, details: err.details } : { err };
      log.warn({ ...fields, sequence }, `could not acknowledge ${name} events; will retry`);
    }
  }

  const scheduleAck = (): void => {
    ackTimer = setTimeout(() => {
      acking = ack().finally(() => {
        if (!stopping.signal.aborted) scheduleAck();
      });
    }, ackEveryMs);
  };

  return {
    start() {
      if (loop || stopping.signal.aborted) return;
      loop = consume().catch((err: unknown) => {
        log.error({ err }, `${name} consumer stopped by an unexpected error`);
      });
      scheduleAck();
    },

    stop() {
      stopped ??= (async () => {
        stopping.abort();
        stream?.abort();
        clearTimeout(ackTimer);
        await loop;
        await acking;
        await ack(FINAL_ACK_TIMEOUT_MS);
        log.info({ ...state }, `${name} consumer stopped`);
      })();
      return stopped;
    },

    status: () => ({ ...state }),
  };
}
