import type { Notification } from "../../gen/shop/notifications/v1/notifications";
import { newId, type Logger } from "../../mesh";
import type { NotificationsStore } from "./store";

/** What every event stream delivers: a position, an id to de-duplicate on, a time. */
export interface StreamEvent {
  sequence: number;
  eventId: string;
  createTime?: Date | undefined;
}

/** Options for {@link createEventRecorder}. */
export interface EventRecorderOptions<E extends StreamEvent> {
  /** The producer, for example "orders": the stream's name in the cursor table and logs. */
  stream: string;
  store: NotificationsStore;
  /** The notification an event becomes, or undefined for none (the cursor still moves). */
  notificationOf(event: E, notificationId: string, createTime: Date): Notification | undefined;
  log: Logger;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** Where a recorder is. */
export interface RecorderState {
  /** Sequence of the last event recorded (the cursor); 0 before the first. */
  lastSequence: number;
  /** When the last event was recorded, in epoch milliseconds; undefined before the first. */
  lastEventAt: number | undefined;
  /** How long after the producer wrote it the last event was recorded, in milliseconds. */
  lagMs: number | undefined;
}

/** Records events of one stream in the notifications store, whatever carried them. */
export interface EventRecorder<E> {
  /**
   * Records `event` in one transaction: its notification (none when one from the same event
   * id is stored already) and the stream's cursor. Resolves once that has committed.
   */
  record(event: E): Promise<void>;
  /** Raises the cursor held in memory to what the store says, on a (re)start. */
  resume(): Promise<number>;
  readonly state: Readonly<RecorderState>;
}

export function createEventRecorder<E extends StreamEvent>(
  options: EventRecorderOptions<E>,
): EventRecorder<E> {
  const { store, log, stream } = options;
  const now = options.now ?? Date.now;
  const state: RecorderState = { lastSequence: 0, lastEventAt: undefined, lagMs: undefined };

  return {
    async record(event) {
      if (event.sequence < 1 || event.eventId === "") {
        log.error(
          { stream, sequence: event.sequence, eventId: event.eventId },
          "malformed event skipped",
        );
        return;
      }
      const at = now();
      const notification = options.notificationOf(event, newId("ntf", at), new Date(at));
      const inserted = await store.record({ stream, sequence: event.sequence, notification }, at);
      state.lastSequence = Math.max(state.lastSequence, event.sequence);
      state.lastEventAt = at;
      state.lagMs = event.createTime ? at - event.createTime.getTime() : undefined;
      log.debug(
        { stream, sequence: event.sequence, eventId: event.eventId, inserted },
        "event recorded",
      );
    },

    async resume() {
      state.lastSequence = Math.max(state.lastSequence, await store.cursor(stream));
      return state.lastSequence;
    },

    state,
  };
}
