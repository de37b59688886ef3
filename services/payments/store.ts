import type { Knex } from "knex";
import { isUniqueViolation, type Store } from "../../mesh";
import { insertRows } from "../common/sql";
import { PaymentStatus, type PaymentEvent } from "../../gen/shop/payments/v1/payments";
import type { OutboxEntry } from "../common/outbox";
import { createPaymentsOutbox, type PaymentsOutbox } from "./events";

/** A payment as stored: amounts in integer micros, as services/common/money.ts keeps them. */
export interface PaymentRecord {
  paymentId: string;
  orderId: string;
  userId: string;
  amountMicros: number;
  currencyCode: string;
  /** The card token charged, "" already resolved to the default. */
  paymentMethod: string;
  status: PaymentStatus;
  /** Why the card was declined; "" otherwise. */
  declineReason: string;
  refundedMicros: number;
  /** Epoch milliseconds. */
  createTime: number;
  updateTime: number;
}

/** One refund of a payment, in the payment's currency. */
export interface RefundRecord {
  refundId: string;
  paymentId: string;
  amountMicros: number;
  reason: string;
  /** Epoch milliseconds. */
  createTime: number;
}

/** Which payments ListPayments returns; an absent field does not filter. */
export interface PaymentFilter {
  orderId?: string;
  userId?: string;
}

/** Reads and writes inside one write transaction. */
export interface PaymentsWriter {
  get(paymentId: string): Promise<PaymentRecord | undefined>;
  /**
   * Inserts a payment for an order that has none. When the order has one, the write fails
   * with {@link isChargedAlready}: at its COMMIT on SQLite (the insert waits for it, see
   * mesh/store/statement.ts), at once on PostgreSQL.
   */
  insertNew(payment: PaymentRecord): Promise<void>;
  getRefund(refundId: string): Promise<RefundRecord | undefined>;
  /** Records a refund together with the payment's new status and refunded total. */
  insertRefund(refund: RefundRecord, payment: PaymentRecord): Promise<void>;
  /** Appends an event to the outbox, committed or rolled back with the rest. */
  appendEvent(entry: OutboxEntry<PaymentEvent>, now: number): Promise<void>;
}

/** Queries of the payments and refunds tables. */
export interface PaymentsStore {
  /** The events that captures and refunds wrote, and their consumers. */
  readonly events: PaymentsOutbox;
  get(paymentId: string): Promise<PaymentRecord | undefined>;
  /** The payment of an order; an order has at most one. */
  getByOrder(orderId: string): Promise<PaymentRecord | undefined>;
  /** Payments by id (and so by creation time), after `afterId`. */
  list(filter: PaymentFilter, limit: number, afterId: string | undefined): Promise<PaymentRecord[]>;
  /**
   * Runs `work` in one transaction that holds SQLite's write lock from its first statement
   * (mesh/store: BEGIN IMMEDIATE goes with it), so a read-then-write (is there money left
   * to refund?) cannot interleave with another instance's. Throwing rolls everything back.
   * Events appended by `work` are announced to this process's streams once it has committed.
   */
  write<T>(work: (writer: PaymentsWriter) => Promise<T>): Promise<T>;
}

interface PaymentRow {
  payment_id: string;
  order_id: string;
  user_id: string;
  amount_micros: number;
  currency_code: string;
  payment_method: string;
  status: string;
  decline_reason: string;
  refunded_micros: number;
  create_time: number;
  update_time: number;
}

interface RefundRow {
  refund_id: string;
  payment_id: string;
  amount_micros: number;
  reason: string;
  create_time: number;
}

// Statuses are stored as words, not enum numbers, so the table reads well in sqlite3.
const STORED_STATUS = new Map<PaymentStatus, string>([
  [PaymentStatus.PAYMENT_STATUS_CAPTURED, "CAPTURED"],
  [PaymentStatus.PAYMENT_STATUS_DECLINED, "DECLINED"],
  [PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED, "PARTIALLY_REFUNDED"],
  [PaymentStatus.PAYMENT_STATUS_REFUNDED, "REFUNDED"],
]);
const STATUS_OF = new Map([...STORED_STATUS].map(([status, word]) => [word, status]));

function storedStatus(status: PaymentStatus): string {
  const word = STORED_STATUS.get(status);
  if (word === undefined) throw new Error(`payment status ${status} cannot be stored`);
  return word;
}

const toPaymentRecord = (row: PaymentRow): PaymentRecord => ({
  paymentId: row.payment_id,
  orderId: row.order_id,
  userId: row.user_id,
  amountMicros: row.amount_micros,
  currencyCode: row.currency_code,
  paymentMethod: row.payment_method,
  status: STATUS_OF.get(row.status) ?? PaymentStatus.UNRECOGNIZED,
  declineReason: row.decline_reason,
  refundedMicros: row.refunded_micros,
  createTime: row.create_time,
  updateTime: row.update_time,
});

const toRefundRecord = (row: RefundRow): RefundRecord => ({
  refundId: row.refund_id,
  paymentId: row.payment_id,
  amountMicros: row.amount_micros,
  reason: row.reason,
  createTime: row.create_time,
});

async function paymentWhere(
  db: Knex,
  where: Partial<PaymentRow>,
): Promise<PaymentRecord | undefined> {
  const row = await db<PaymentRow>("payments").where(where).first();
  return row && toPaymentRecord(row);
}

/** A write failed because its order already has a payment (PaymentsWriter.insertNew). */
export const isChargedAlready = (err: unknown): boolean =>
  isUniqueViolation(err, "payments", "order_id");

// Charge's insert, on every order's path: a prepared statement (mesh/store/statement.ts),
// deferred to the COMMIT. Nothing reads its answer: a second charge of an order is refused by
// the unique order id, which fails the write, and Charge then reads the first (service.ts).
// So a charge is one trip to SQLite's thread pool: BEGIN, this, its event and COMMIT.
const INSERT_PAYMENT = insertRows("payments", [
  "payment_id",
  "order_id",
  "user_id",
  "amount_micros",
  "currency_code",
  "payment_method",
  "status",
  "decline_reason",
  "refunded_micros",
  "create_time",
  "update_time",
])(1);

function createWriter(trx: Knex, events: PaymentsOutbox, appended: () => void): PaymentsWriter {
  return {
    get: (paymentId) => paymentWhere(trx, { payment_id: paymentId }),

    async insertNew(p) {
      await INSERT_PAYMENT.defer(trx, [
        p.paymentId,
        p.orderId,
        p.userId,
        p.amountMicros,
        p.currencyCode,
        p.paymentMethod,
        storedStatus(p.status),
        p.declineReason,
        p.refundedMicros,
        p.createTime,
        p.updateTime,
      ]);
    },

    async getRefund(refundId) {
      const row = await trx<RefundRow>("refunds").where({ refund_id: refundId }).first();
      return row && toRefundRecord(row);
    },

    async insertRefund(refund, payment) {
      await trx<RefundRow>("refunds").insert({
        refund_id: refund.refundId,
        payment_id: refund.paymentId,
        amount_micros: refund.amountMicros,
        reason: refund.reason,
        create_time: refund.createTime,
      });
      await trx<PaymentRow>("payments")
        .where({ payment_id: payment.paymentId })
        .update({
          status: storedStatus(payment.status),
          refunded_micros: payment.refundedMicros,
          update_time: payment.updateTime,
        });
    },

    async appendEvent(entry, now) {
      await events.append(trx, entry, now);
      appended();
    },
  };
}

/** The payments store over a service's own database. */
export function createPaymentsStore(store: Store): PaymentsStore {
  const { db } = store;
  const events = createPaymentsOutbox(store);
  return {
    events,
    get: (paymentId) => paymentWhere(db, { payment_id: paymentId }),
    getByOrder: (orderId) => paymentWhere(db, { order_id: orderId }),

    async list(filter, limit, afterId) {
      const query = db<PaymentRow>("payments").orderBy("payment_id").limit(limit);
      if (filter.orderId !== undefined) void query.where("order_id", filter.orderId);
      if (filter.userId !== undefined) void query.where("user_id", filter.userId);
      if (afterId !== undefined) void query.where("payment_id", ">", afterId);
      return (await query).map(toPaymentRecord);
    },

    async write(work) {
      let appended = false;
      const result = await store.write((trx) =>
        work(createWriter(trx, events, () => (appended = true))),
      );
      // After the commit, so that a woken stream reads the event.
      if (appended) events.announce();
      return result;
    },
  };
}
