import { status } from "@grpc/grpc-js";
import { isGrpcError, type PeerCallOptions, type StreamCallOptions } from "../../mesh";
import { backoffDelay, sleep, type BackoffOptions } from "../common/backoff";
import {
  createEventRecorder,
  type EventRecorderOptions,
  type RecorderState,
  type StreamEvent,
} from "./recorder";

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
export interface StreamConsumerOptions<E extends StreamEvent> extends EventRecorderOptions<E> {
  /** The name this consumer streams and acknowledges under. */
  consumer: string;
  source: EventSource<E>;
  /** How often the cursor is acknowledged to the producer (and once more on stop). Defaults to 1 second. */
  ackEveryMs?: number;
  /** Reconnection delays after the stream ends or fails. Defaults to 100 ms doubling to 5 s. */
  backoff?: BackoffOptions;
  /** Numbers in [0, 1) for the backoff's jitter. Defaults to Math.random. */
  random?: () => number;
}

/** Where the consumer is, for logs and tests. */
export interface ConsumerStatus extends RecorderState {
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

/**
 * Consumes one producer's event stream from a durable cursor (in the notifications store),
 * recording each event once, reconnecting with backoff, acknowledging the cursor regularly.
 */
export function createStreamConsumer<E extends StreamEvent>(
  options: StreamConsumerOptions<E>,
): StreamConsumer {
  const { source, log, stream: name, consumer } = options;
  const recorder = createEventRecorder(options);
  const ackEveryMs = options.ackEveryMs ?? DEFAULT_ACK_EVERY_MS;
  const stopping = new AbortController();
  let stream: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let ackTimer: NodeJS.Timeout | undefined;
  let acking: Promise<void> = Promise.resolve();
  // Reconnections since the last event recorded: the exponent of the backoff.
  let failures = 0;
  // Whether the producer ever sent anything on a stream (events, or an end).
  let answered = false;
  let acknowledgedSequence = 0;
  let reconnects = 0;
  const status = (): ConsumerStatus => ({ ...recorder.state, acknowledgedSequence, reconnects });

  /** One stream, from the stored cursor until it ends or fails. */
  async function readStream(signal: AbortSignal): Promise<void> {
    const afterSequence = await recorder.resume();
    // Info once per outage, not at every attempt while the producer is away.
    const level = failures === 0 ? "info" : "debug";
    log[level]({ stream: name, afterSequence }, `reading the ${name} event stream`);
    for await (const { event } of source.streamEvents({ consumer, afterSequence }, { signal })) {
      answered = true;
      if (!event) continue;
      await recorder.record(event);
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
        answered = true;
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
      reconnects++;
      const entry = {
        ...fields,
        stream: name,
        retryInMs,
        lastSequence: recorder.state.lastSequence,
      };
      // The first attempt failing before the producer ever answered is the producer not
      // serving yet (start:all starts everyone at once), not a lost stream.
      if (expected && reconnects === 1 && !answered)
        log.info(entry, `${name} event stream not reachable yet; retrying`);
      else if (expected) log.warn(entry, `${name} event stream lost; reconnecting`);
      // Not a restart: a refused cursor (the producer's store replaced), a store failure, a
      // bug. Retrying still ends it if it passes; until then it is an error for an operator.
      else log.error(entry, `${name} event stream failed; retrying`);
      await sleep(retryInMs, stopping.signal);
    }
  }

  async function ack(timeoutMs?: number): Promise<void> {
    const sequence = recorder.state.lastSequence;
    // The contract wants at least 1, and acknowledging the same sequence again is pointless.
    if (sequence < 1 || sequence <= acknowledgedSequence) return;
    try {
      await source.ackEvents({ consumer, sequence }, { timeoutMs });
      acknowledgedSequence = Math.max(acknowledgedSequence, sequence);
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
        log.info(status(), `${name} consumer stopped`);
      })();
      return stopped;
    },

    status,
  };
}
