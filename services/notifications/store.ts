import type { Store } from "../../mesh";
import { greaterOf } from "../common/sql";
import { NotificationKind, type Notification } from "../../gen/shop/notifications/v1/notifications";

interface NotificationRow {
  notification_id: string;
  user_id: string;
  order_id: string;
  kind: string;
  title: string;
  body: string;
  event_id: string;
  sequence: number;
  create_time: number;
}

interface CursorRow {
  stream: string;
  last_sequence: number;
  update_time: number;
}

/** The streams whose cursors this store keeps, one row each. */
export const ORDERS_STREAM = "orders";
export const PAYMENTS_STREAM = "payments";

const KIND_TEXT: Partial<Record<NotificationKind, string>> = {
  [NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED]: "ORDER_CONFIRMED",
  [NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED]: "ORDER_REJECTED",
  [NotificationKind.NOTIFICATION_KIND_PAYMENT_REFUNDED]: "PAYMENT_REFUNDED",
};
const KIND_OF_TEXT = new Map(
  Object.entries(KIND_TEXT).map(([kind, text]) => [text, Number(kind) as NotificationKind]),
);

const toNotification = (row: NotificationRow): Notification => ({
  notificationId: row.notification_id,
  userId: row.user_id,
  orderId: row.order_id,
  kind: KIND_OF_TEXT.get(row.kind) ?? NotificationKind.NOTIFICATION_KIND_UNSPECIFIED,
  title: row.title,
  body: row.body,
  eventId: row.event_id,
  createTime: new Date(row.create_time),
});

/** What one event of a stream produced. */
export interface ProcessedEvent {
  /** The stream it came from. Defaults to orders. */
  stream?: string;
  /** The event's position in that producer's outbox. */
  sequence: number;
  /** Its notification; none for an event this service does not notify about. */
  notification?: Notification;
}

/** Queries of the notifications and the stream cursor. */
export interface NotificationsStore {
  /**
   * Records an event in one transaction: inserts its notification, unless one from the same
   * event_id is stored already, and moves the stream's cursor up to its sequence (never back).
   * Resolves to whether a notification was inserted.
   */
  record(processed: ProcessedEvent, now: number): Promise<boolean>;
  /** The sequence of the last event of `stream` (defaults to orders) recorded; 0 before the first. */
  cursor(stream?: string): Promise<number>;
  /** A user's notifications, newest first, before `beforeId`. */
  list(userId: string, limit: number, beforeId: string | undefined): Promise<Notification[]>;
}

export function createNotificationsStore(store: Store): NotificationsStore {
  const { db } = store;

  return {
    record: ({ stream = ORDERS_STREAM, sequence, notification: n }, now) =>
      store.write(async (trx) => {
        let inserted = false;
        if (n) {
          const rows = await trx<NotificationRow>("notifications")
            .insert({
              notification_id: n.notificationId,
              user_id: n.userId,
              order_id: n.orderId,
              kind: KIND_TEXT[n.kind] ?? "UNSPECIFIED",
              title: n.title,
              body: n.body,
              event_id: n.eventId,
              sequence,
              create_time: (n.createTime ?? new Date(now)).getTime(),
            })
            .onConflict("event_id")
            .ignore()
            // RETURNING yields no row when the conflict ignored the insert (see users/store.ts).
            .returning("notification_id");
          inserted = rows.length === 1;
        }
        // MAX keeps the cursor where it is when an older event is delivered again.
        await trx<CursorRow>("consumer_cursor")
          .insert({ stream, last_sequence: sequence, update_time: now })
          .onConflict("stream")
          .merge({
            last_sequence: greaterOf(
              trx,
              "consumer_cursor.last_sequence",
              "excluded.last_sequence",
            ) as unknown as number,
            update_time: now,
          });
        return inserted;
      }),

    async cursor(stream = ORDERS_STREAM) {
      const row = await db<CursorRow>("consumer_cursor").where({ stream }).first();
      return row ? Number(row.last_sequence) : 0;
    },

    async list(userId, limit, beforeId) {
      const query = db<NotificationRow>("notifications")
        .where({ user_id: userId })
        .orderBy("notification_id", "desc")
        .limit(limit);
      if (beforeId !== undefined) void query.where("notification_id", "<", beforeId);
      return (await query).map(toNotification);
    },
  };
}
