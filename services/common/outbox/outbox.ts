import type { Knex } from "knex";
import type { Statement, Store } from "../../../mesh";
import { greaterOf, insertRows } from "../sql";
import { CONSUMERS_TABLE, OUTBOX_TABLE } from "./tables";

/** How an outbox stores its events: a ts-proto message's own encode and decode fit. */
export interface EventCodec<E> {
  encode(event: E): { finish(): Uint8Array };
  decode(bytes: Uint8Array): E;
}

/** An event to append, with what the outbox stores beside its payload. */
export interface OutboxEntry<E> {
  eventId: string;
  /** For example ORDER_CONFIRMED: the `kind` column, and the subject a relay publishes on. */
  kind: string;
  /** The event; its sequence is assigned by the outbox. */
  event: E;
  /** The service's own columns (see createOutboxTables), for example `{ order_id }`. */
  columns?: Record<string, string | number>;
}

/** One stored event with its row's metadata, as a relay reads it. */
export interface OutboxRecord<E> {
  sequence: number;
  eventId: string;
  kind: string;
  /** The event with its sequence set. */
  event: E;
}

/** A service's outbox of events `E` (messages with an int64 `sequence`) and its consumers. */
export interface Outbox<E extends { sequence: number }> {
  /**
   * Inside `trx`, the transaction making the change the event announces: appends it (a
   * deferred insert, Statement.defer: it runs with the commit, and draws its sequence then).
   * Call {@link announce} once `trx` has committed.
   */
  append(trx: Knex, entry: OutboxEntry<E>, now: number): Promise<void>;
  /** Wakes this process's streams waiting for new events; called after a commit that appended. */
  announce(): void;
  /** Up to `limit` events with a sequence above `after`, in order. */
  read(after: number, limit: number): Promise<E[]>;
  /** As {@link read}, with each row's event id and kind. */
  readRecords(after: number, limit: number): Promise<OutboxRecord<E>[]>;
  /** The highest sequence ever written, even if compacted since; 0 before the first event. */
  lastSequence(): Promise<number>;
  /** Registers `consumer` with nothing acknowledged, unless it is registered already. */
  register(consumer: string, now: number): Promise<void>;
  /** The consumer's acknowledged sequence; 0 when it is not registered. */
  acknowledged(consumer: string): Promise<number>;
  /**
   * Raises the consumer's acknowledged sequence to `sequence` (never lowers it), registering
   * it if needed. Resolves to the acknowledged sequence after that and the last sequence;
   * when `sequence` is past the last, `acknowledged` is undefined and nothing changed.
   */
  acknowledge(
    consumer: string,
    sequence: number,
    now: number,
  ): Promise<{ acknowledged: number | undefined; last: number }>;
  /**
   * Deletes up to `limit` events created before `before` that every registered consumer has
   * acknowledged; with no consumer registered, none. Resolves to how many were deleted.
   */
  compact(before: number, limit: number): Promise<number>;
  /** How many events this process has announced; pass it to {@link waitForEvents}. */
  readonly announced: number;
  /**
   * Resolves when this process announces an event after `seen` (an earlier value of
   * {@link announced}), when `timeoutMs` has passed, or when `signal` aborts, whichever is
   * first. Leaves no timer or listener behind.
   */
  waitForEvents(seen: number, timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Calls in {@link waitForEvents} now: streams idle until the next event. */
  readonly waiting: number;
}

interface OutboxRow {
  sequence: number;
  event_id: string;
  kind: string;
  payload: Buffer;
  create_time: number;
}

interface ConsumerRow {
  consumer: string;
  acknowledged_sequence: number;
  update_time: number;
}

/** The outbox in a service's store (tables made by createOutboxTables), storing `codec`'s events. */
export function createOutbox<E extends { sequence: number }>(
  store: Store,
  codec: EventCodec<E>,
): Outbox<E> {
  const { db } = store;
  const waiters = new Set<() => void>();
  let announced = 0;
  // The append statement for each set of the service's own columns (one, in practice).
  const appends = new Map<string, Statement<unknown>>();

  // The high-water mark of the sequence, which deleting rows never lowers: SQLite keeps
  // AUTOINCREMENT's in sqlite_sequence, PostgreSQL in the serial column's sequence object. A
  // PostgreSQL sequence also counts values drawn by transactions that rolled back, so there
  // it can be above the last event: a gap, which a consumer resuming "after N" never notices.
  const lastSequenceIn = async (q: Knex): Promise<number> => {
    if (store.dialect === "postgres") {
      const row = await q<{ last_value: number; is_called: boolean }>(
        `${OUTBOX_TABLE}_sequence_seq`,
      ).first("last_value", "is_called");
      return row?.is_called ? Number(row.last_value) : 0;
    }
    const row = await q<{ name: string; seq: number }>("sqlite_sequence")
      .where("name", OUTBOX_TABLE)
      .first("seq");
    return row?.seq ?? 0;
  };

  const readRecords = async (after: number, limit: number): Promise<OutboxRecord<E>[]> => {
    const rows = await db<OutboxRow>(OUTBOX_TABLE)
      .where("sequence", ">", after)
      .orderBy("sequence")
      .limit(limit)
      .select("sequence", "event_id", "kind", "payload");
    return rows.map((row) => ({
      sequence: row.sequence,
      eventId: row.event_id,
      kind: row.kind,
      event: { ...codec.decode(row.payload), sequence: row.sequence },
    }));
  };

  return {
    async append(trx, { eventId, kind, event, columns = {} }, now) {
      const names = Object.keys(columns);
      const key = names.join(",");
      let insert = appends.get(key);
      if (!insert) {
        insert = insertRows(OUTBOX_TABLE, [...names, "event_id", "kind", "payload", "create_time"])(
          1,
        );
        appends.set(key, insert);
      }
      const payload = Buffer.from(codec.encode({ ...event, sequence: 0 }).finish());
      await insert.defer(trx, [...names.map((name) => columns[name]), eventId, kind, payload, now]);
    },

    announce() {
      announced++;
      for (const wake of [...waiters]) wake();
    },

    async read(after, limit) {
      return (await readRecords(after, limit)).map((record) => record.event);
    },

    readRecords,

    lastSequence: () => lastSequenceIn(db),

    async register(consumer, now) {
      await db<ConsumerRow>(CONSUMERS_TABLE)
        .insert({ consumer, acknowledged_sequence: 0, update_time: now })
        .onConflict("consumer")
        .ignore();
    },

    async acknowledged(consumer) {
      const row = await db<ConsumerRow>(CONSUMERS_TABLE).where({ consumer }).first();
      return row ? Number(row.acknowledged_sequence) : 0;
    },

    acknowledge: (consumer, sequence, now) =>
      store.write(async (trx) => {
        const last = await lastSequenceIn(trx);
        if (sequence > last) return { acknowledged: undefined, last };
        await trx<ConsumerRow>(CONSUMERS_TABLE)
          .insert({ consumer, acknowledged_sequence: sequence, update_time: now })
          .onConflict("consumer")
          .merge({
            acknowledged_sequence: greaterOf(
              trx,
              `${CONSUMERS_TABLE}.acknowledged_sequence`,
              "excluded.acknowledged_sequence",
            ),
            update_time: now,
          });
        const row = await trx<ConsumerRow>(CONSUMERS_TABLE).where({ consumer }).first();
        return { acknowledged: row?.acknowledged_sequence, last };
      }),

    async compact(before, limit) {
      // One statement, so that no consumer can register between reading the minimum and
      // deleting; min() over no rows is NULL, and `sequence <= NULL` holds for no row.
      const acknowledgedByAll = db<ConsumerRow>(CONSUMERS_TABLE).min("acknowledged_sequence");
      const doomed = db<OutboxRow>(OUTBOX_TABLE)
        .select("sequence")
        .where("sequence", "<=", acknowledgedByAll)
        .andWhere("create_time", "<", before)
        .orderBy("sequence")
        .limit(limit);
      return db<OutboxRow>(OUTBOX_TABLE).whereIn("sequence", doomed).delete();
    },

    get announced() {
      return announced;
    },

    waitForEvents(seen, timeoutMs, signal) {
      if (announced !== seen || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal.addEventListener("abort", done, { once: true });
        waiters.add(done);
      });
    },

    get waiting() {
      return waiters.size;
    },
  };
}
