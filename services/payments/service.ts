import {
  actingUser,
  alreadyExists,
  encodePageToken,
  failedPrecondition,
  invalidArgument,
  newId,
  notFound,
  scopeOf,
  visibleIn,
  type ServiceHandlers,
} from "../../mesh";
import {
  PaymentStatus,
  type Payment,
  type PaymentEvent,
  type PaymentServiceService,
} from "../../gen/shop/payments/v1/payments";
import { formatMoney, fromMicros } from "../common/money";
import { createEventStreamHandlers, type EventStreamOptions } from "../common/outbox";
import { capturedEvent, refundedEvent } from "./events";
import {
  checkCharge,
  checkGet,
  checkList,
  checkRefund,
  DECLINED_CARD,
  type ChargeCommand,
} from "./requests";
import {
  isChargedAlready,
  type PaymentRecord,
  type PaymentsStore,
  type PaymentsWriter,
} from "./store";

/** Dependencies of the payments service; the event stream's options are in EventStreamOptions. */
export interface PaymentsServiceDeps extends Omit<
  EventStreamOptions<PaymentEvent>,
  "outbox" | "producer" | "now"
> {
  store: PaymentsStore;
  /** Defaults to the system clock. */
  now?: () => Date;
}

// Why each test card is declined; a card not listed here is approved.
const DECLINE_REASONS = new Map([[DECLINED_CARD, "card declined"]]);

/** The PaymentService handlers. */
export function createPaymentsService(
  deps: PaymentsServiceDeps,
): ServiceHandlers<typeof PaymentServiceService> {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());
  const events = createEventStreamHandlers({
    ...deps,
    outbox: store.events,
    producer: "payments",
    now: () => now().getTime(),
  });

  return {
    ...events,

    async charge(request, ctx) {
      const charge = checkCharge(request);
      // Relayed with the buyer's token (orders forwards it): only the buyer can be charged.
      actingUser(scopeOf(ctx), charge.userId, "user_id");

      // A decline is recorded, then answered: throwing inside write() would roll it back, and
      // a retried Charge must find the same decline rather than try the card again.
      const payment = await store
        .write(async (w) => {
          const time = now().getTime();
          const created = newPayment(charge, time);
          await w.insertNew(created);
          // A decline changes nothing anyone else holds; a capture is money taken.
          if (created.status === PaymentStatus.PAYMENT_STATUS_CAPTURED) {
            await w.appendEvent(capturedEvent(toPayment(created), time), time);
          }
          return created;
        })
        .catch(async (err: unknown) => {
          // The order was charged before (a retry, or a replay): nothing of this write was
          // kept, and the first charge answers, if it was the same request. Payments are
          // never deleted, so the one that refused this insert is there to read.
          if (!isChargedAlready(err)) throw err;
          const existing = await store.getByOrder(charge.orderId);
          if (!existing) throw new Error(`payment of order ${charge.orderId} vanished`);
          if (!isSameCharge(existing, charge)) {
            throw alreadyExists(
              `order ${charge.orderId} was already charged with a different request`,
            );
          }
          return existing;
        });

      if (payment.status === PaymentStatus.PAYMENT_STATUS_DECLINED) {
        throw failedPrecondition(`payment declined: ${payment.declineReason}`);
      }
      return { payment: toPayment(payment) };
    },

    async refund(request, ctx) {
      const refund = checkRefund(request);
      const scope = scopeOf(ctx);

      const payment = await store.write(async (w) => {
        const prior = await w.getRefund(refund.refundId);
        if (prior) {
          const paid = await current(w, prior.paymentId);
          if (!visibleIn(scope, paid.userId))
            throw notFound(`payment ${refund.paymentId} not found`);
          const same =
            prior.paymentId === refund.paymentId &&
            prior.amountMicros === refund.amountMicros &&
            paid.currencyCode === refund.currencyCode;
          if (!same) {
            throw alreadyExists(
              `refund ${refund.refundId} was already made with a different request`,
            );
          }
          return paid;
        }

        const paid = await w.get(refund.paymentId);
        if (!paid || !visibleIn(scope, paid.userId))
          throw notFound(`payment ${refund.paymentId} not found`);
        if (paid.status === PaymentStatus.PAYMENT_STATUS_DECLINED) {
          throw failedPrecondition(
            `payment ${paid.paymentId} was declined; there is nothing to refund`,
          );
        }
        if (refund.currencyCode !== paid.currencyCode) {
          throw invalidArgument(
            "amount.currency_code",
            `must be ${paid.currencyCode}, the currency of the payment`,
          );
        }
        const left = paid.amountMicros - paid.refundedMicros;
        if (refund.amountMicros > left) {
          const asked = formatMoney(fromMicros(refund.amountMicros, paid.currencyCode));
          throw failedPrecondition(
            `refund of ${asked} exceeds the ${formatMoney(fromMicros(left, paid.currencyCode))} left to refund`,
          );
        }

        const time = now().getTime();
        const refundedMicros = paid.refundedMicros + refund.amountMicros;
        const updated: PaymentRecord = {
          ...paid,
          refundedMicros,
          status:
            refundedMicros === paid.amountMicros
              ? PaymentStatus.PAYMENT_STATUS_REFUNDED
              : PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED,
          updateTime: time,
        };
        await w.insertRefund({ ...refund, createTime: time }, updated);
        const amount = fromMicros(refund.amountMicros, refund.currencyCode);
        await w.appendEvent(
          refundedEvent(
            toPayment(updated),
            { refundId: refund.refundId, amount, reason: refund.reason },
            time,
          ),
          time,
        );
        return updated;
      });

      return { payment: toPayment(payment) };
    },

    async getPayment(request, ctx) {
      const scope = scopeOf(ctx);
      const paymentId = checkGet(request);

      const payment = await store.get(paymentId);
      // Another user's payment answers exactly as a missing one.
      if (!payment || !visibleIn(scope, payment.userId))
        throw notFound(`payment ${paymentId} not found`);
      return { payment: toPayment(payment) };
    },

    async listPayments(request, ctx) {
      const scope = scopeOf(ctx);
      const query = checkList(request);
      const userId = actingUser(scope, query.filter.userId ?? "", "user_id");
      if (userId !== "") query.filter.userId = userId;

      const payments = await store.list(query.filter, query.size + 1, query.afterId);
      const more = payments.length > query.size;
      if (more) payments.pop();
      return {
        payments: payments.map(toPayment),
        nextPageToken: more
          ? encodePageToken([payments[payments.length - 1].paymentId], query.fingerprint)
          : "",
      };
    },
  };
}

/** Whether a stored payment answers this charge: the same user, amount and card. */
function isSameCharge(payment: PaymentRecord, charge: ChargeCommand): boolean {
  return (
    payment.userId === charge.userId &&
    payment.amountMicros === charge.amountMicros &&
    payment.currencyCode === charge.currencyCode &&
    payment.paymentMethod === charge.paymentMethod
  );
}

/** A new payment for a charge, captured or declined by its test card. */
function newPayment(charge: ChargeCommand, time: number): PaymentRecord {
  const declineReason = DECLINE_REASONS.get(charge.paymentMethod) ?? "";
  return {
    paymentId: newId("pay"),
    ...charge,
    status: declineReason
      ? PaymentStatus.PAYMENT_STATUS_DECLINED
      : PaymentStatus.PAYMENT_STATUS_CAPTURED,
    declineReason,
    refundedMicros: 0,
    createTime: time,
    updateTime: time,
  };
}

/** The payment a stored refund belongs to; the foreign key guarantees it exists. */
async function current(w: PaymentsWriter, paymentId: string): Promise<PaymentRecord> {
  const payment = await w.get(paymentId);
  if (!payment) throw new Error(`refund of payment ${paymentId} has no payment`);
  return payment;
}

function toPayment(p: PaymentRecord): Payment {
  return {
    paymentId: p.paymentId,
    orderId: p.orderId,
    userId: p.userId,
    amount: fromMicros(p.amountMicros, p.currencyCode),
    status: p.status,
    declineReason: p.declineReason,
    refundedAmount: fromMicros(p.refundedMicros, p.currencyCode),
    createTime: new Date(p.createTime),
    updateTime: new Date(p.updateTime),
  };
}
