import type { Knex } from "knex";
import { OrderEvent, OrderStatus, type Order } from "../../gen/shop/orders/v1/orders";
import { newId, type Store } from "../../mesh";
import { greaterOf } from "../common/sql";

/** The orders outbox and its consumers' acknowledgements. */
export interface Outbox {
  /**
   * Inside `trx`, the transaction that ended the order: appends the event announcing its
   * outcome (`order` as stored after the change) and resolves to its sequence. Call
   * {@link announce} once `trx` has committed.
   */
  append(trx: Knex.Transaction, order: Order, now: number): Promise<number>;
  /** Wakes this process's streams waiting for new events; called after a commit that appended. */
  announce(): void;
  /** Up to `limit` events with a sequence above `after`, in order. */
  read(after: number, limit: number): Promise<OrderEvent[]>;
  /** The highest sequence ever written, even if compacted since; 0 before the first event. */
  lastSequence(): Promise<number>;
  /** Registers `consumer` with nothing acknowledged, unless it is registered already. */
  register(consumer: string, now: number): Promise<void>;
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
  order_id: string;
  user_id: string;
  kind: string;
  payload: Buffer;
  create_time: number;
}

interface ConsumerRow {
  consumer: string;
  acknowledged_sequence: number;
  update_time: number;
}

/** The event announcing how `order` ended; its sequence is assigned by the outbox. */
function eventOf(order: Order, now: number): { kind: string; event: OrderEvent } {
  const base = {
    sequence: 0,
    eventId: newId("evt", now),
    createTime: new Date(now),
    orderId: order.orderId,
    userId: order.userId,
  };
  switch (order.status) {
    case OrderStatus.ORDER_STATUS_CONFIRMED:
      return { kind: "ORDER_CONFIRMED", event: { ...base, orderConfirmed: { order } } };
    case OrderStatus.ORDER_STATUS_REJECTED:
      return { kind: "ORDER_REJECTED", event: { ...base, orderRejected: { order } } };
    default:
      throw new Error(`order ${order.orderId} has not ended; there is no event for it`);
  }
}

export function createOutbox(store: Store): Outbox {
  const { db } = store;
  const waiters = new Set<() => void>();
  let announced = 0;

  // The high-water mark of the sequence, which deleting rows never lowers: SQLite keeps
  // AUTOINCREMENT's in sqlite_sequence, PostgreSQL in the serial column's sequence object. A
  // PostgreSQL sequence also counts values drawn by transactions that rolled back, so there
  // it can be above the last event: a gap, which a consumer resuming "after N" never notices.
  const lastSequenceIn = async (q: Knex | Knex.Transaction): Promise<number> => {
    if (store.dialect === "postgres") {
      const row = await q<{ last_value: number; is_called: boolean }>("outbox_sequence_seq").first(
        "last_value",
        "is_called",
      );
      return row?.is_called ? row.last_value : 0;
    }
    const row = await q<{ name: string; seq: number }>("sqlite_sequence")
      .where("name", "outbox")
      .first("seq");
    return row?.seq ?? 0;
  };

  return {
    async append(trx, order, now) {
      const { kind, event } = eventOf(order, now);
      const [row] = await trx<OutboxRow>("outbox")
        .insert({
          event_id: event.eventId,
          order_id: event.orderId,
          user_id: event.userId,
          kind,
          payload: Buffer.from(OrderEvent.encode(event).finish()),
          create_time: now,
        })
        .returning("sequence");
      return row.sequence;
    },

    announce() {
      announced++;
      for (const wake of [...waiters]) wake();
    },

    async read(after, limit) {
      const rows = await db<OutboxRow>("outbox")
        .where("sequence", ">", after)
        .orderBy("sequence")
        .limit(limit)
        .select("sequence", "payload");
      return rows.map((row) => ({ ...OrderEvent.decode(row.payload), sequence: row.sequence }));
    },

    lastSequence: () => lastSequenceIn(db),

    async register(consumer, now) {
      await db<ConsumerRow>("event_consumers")
        .insert({ consumer, acknowledged_sequence: 0, update_time: now })
        .onConflict("consumer")
        .ignore();
    },

    acknowledge: (consumer, sequence, now) =>
      store.write(async (trx) => {
        const last = await lastSequenceIn(trx);
        if (sequence > last) return { acknowledged: undefined, last };
        await trx<ConsumerRow>("event_consumers")
          .insert({ consumer, acknowledged_sequence: sequence, update_time: now })
          .onConflict("consumer")
          .merge({
            acknowledged_sequence: greaterOf(
              trx,
              "event_consumers.acknowledged_sequence",
              "excluded.acknowledged_sequence",
            ),
            update_time: now,
          });
        const row = await trx<ConsumerRow>("event_consumers").where({ consumer }).first();
        return { acknowledged: row?.acknowledged_sequence, last };
      }),

    async compact(before, limit) {
      // One statement, so that no consumer can register between reading the minimum and
      // deleting; min() over no rows is NULL, and `sequence <= NULL` holds for no row.
      const acknowledgedByAll = db<ConsumerRow>("event_consumers").min("acknowledged_sequence");
      const doomed = db<OutboxRow>("outbox")
        .select("sequence")
        .where("sequence", "<=", acknowledgedByAll)
        .andWhere("create_time", "<", before)
        .orderBy("sequence")
        .limit(limit);
      return db<OutboxRow>("outbox").whereIn("sequence", doomed).delete();
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
