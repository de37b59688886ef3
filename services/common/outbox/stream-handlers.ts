import {
  failedPrecondition,
  serviceOnly,
  unavailable,
  Validator,
  type CallContext,
  type ServerStreamHandler,
} from "../../../mesh";
import type { Outbox } from "./outbox";

/** Options of {@link createEventStreamHandlers}; services pass the last four through. */
export interface EventStreamOptions<E extends { sequence: number }> {
  outbox: Outbox<E>;
  /** The producing service, for messages ("orders is shutting down"). */
  producer: string;
  /** Events a stream reads from the store at a time. Defaults to 100. */
  eventBatchSize?: number;
  /**
   * How often an idle stream looks for events that another instance sharing the store wrote;
   * this instance's own events wake it at once. Defaults to 200 ms.
   */
  eventPollIntervalMs?: number;
  /**
   * Aborted when the service begins to shut down: open streams end with UNAVAILABLE (the
   * consumer resumes elsewhere) and new ones are refused, so that a drain need not wait for
   * streams that never end by themselves. Defaults to never.
   */
  stopping?: AbortSignal;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** The StreamEvents and AckEvents handlers, shaped as every producer's contract has them. */
export interface EventStreamHandlers<E> {
  streamEvents: ServerStreamHandler<
    { consumer: string; afterSequence: number },
    { event: E | undefined }
  >;
  ackEvents(
    request: { consumer: string; sequence: number },
    ctx: CallContext,
  ): Promise<{ acknowledgedSequence: number }>;
}

const MAX_CONSUMER = 64;
const CONSUMER_PATTERN = /^[a-z0-9][a-z0-9-]*$/;
const DEFAULT_BATCH_SIZE = 100;
const DEFAULT_POLL_INTERVAL_MS = 200;

function checkConsumer(v: Validator, consumer: string): void {
  v.string(consumer, "consumer", {
    max: MAX_CONSUMER,
    pattern: CONSUMER_PATTERN,
    patternHint: "must be lower-case letters, digits and dashes, starting with a letter or digit",
  });
}

/**
 * StreamEvents (the outbox in order from a cursor, at least once, then new events as they are
 * written) and AckEvents (a consumer's cursor, which holds back compaction) over an outbox.
 */
export function createEventStreamHandlers<E extends { sequence: number }>(
  options: EventStreamOptions<E>,
): EventStreamHandlers<E> {
  const { outbox: events, producer, stopping } = options;
  const batchSize = options.eventBatchSize ?? DEFAULT_BATCH_SIZE;
  const pollIntervalMs = options.eventPollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const shuttingDown = (sent: number) =>
    unavailable(
      `${producer} is shutting down (events sent up to sequence ${sent}); ` +
        "resume after the last event you processed",
    );

  return {
    async *streamEvents(request, ctx) {
      // Every user's events are in the stream: it is for services such as notifications.
      serviceOnly(ctx);
      const v = new Validator();
      checkConsumer(v, request.consumer);
      v.int(request.afterSequence, "after_sequence", { min: 0, max: Number.MAX_SAFE_INTEGER });
      v.done();
      if (stopping?.aborted) throw shuttingDown(request.afterSequence);

      const last = await events.lastSequence();
      // Past the end, the consumer's position is from another outbox (a store that was
      // replaced): waiting would silently skip the new store's first events.
      if (request.afterSequence > last) {
        throw failedPrecondition(
          `after_sequence ${request.afterSequence} is past the last event (sequence ${last})`,
        );
      }
      // From now on the consumer holds back compaction of what it has not acknowledged.
      await events.register(request.consumer, now());

      // Ends on the caller's cancellation or on shutdown; listeners are removed in finally.
      const ended = new AbortController();
      const end = (): void => ended.abort();
      ctx.signal.addEventListener("abort", end, { once: true });
      stopping?.addEventListener("abort", end, { once: true });
      if (ctx.signal.aborted || stopping?.aborted) end();
      let after = request.afterSequence;
      try {
        while (!ended.signal.aborted) {
          // Taken before the read: an event announced between the read and the wait below
          // then ends the wait at once instead of after a poll interval.
          const seen = events.announced;
          // One batch at a time, one event per yield: the mesh resumes this generator only
          // when the stream can take more, so a slow consumer holds at most a batch here.
          const batch = await events.read(after, batchSize);
          for (const event of batch) {
            if (ended.signal.aborted) break;
            yield { event };
            after = event.sequence;
          }
          if (batch.length < batchSize) {
            await events.waitForEvents(seen, pollIntervalMs, ended.signal);
          }
        }
        if (!ctx.signal.aborted) throw shuttingDown(after);
      } finally {
        ctx.signal.removeEventListener("abort", end);
        stopping?.removeEventListener("abort", end);
      }
    },

    async ackEvents(request, ctx) {
      serviceOnly(ctx);
      const v = new Validator();
      checkConsumer(v, request.consumer);
      v.int(request.sequence, "sequence", { min: 1, max: Number.MAX_SAFE_INTEGER });
      v.done();

      const { acknowledged, last } = await events.acknowledge(
        request.consumer,
        request.sequence,
        now(),
      );
      if (acknowledged === undefined) {
        throw failedPrecondition(
          `sequence ${request.sequence} is past the last event (sequence ${last})`,
        );
      }
      return { acknowledgedSequence: acknowledged };
    },
  };
}
