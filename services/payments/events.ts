import { PaymentEvent, type Payment } from "../../gen/shop/payments/v1/payments";
import type { Money } from "../../gen/shop/common/v1/common";
import { newId, type Store } from "../../mesh";
import { createOutbox, type Outbox, type OutboxEntry } from "../common/outbox";

/** The payments outbox: PaymentEvents, in the shared outbox tables. */
export type PaymentsOutbox = Outbox<PaymentEvent>;

/** The payments outbox in the payments store. */
export const createPaymentsOutbox = (store: Store): PaymentsOutbox =>
  createOutbox(store, PaymentEvent);

type EventBody = Pick<PaymentEvent, "paymentCaptured" | "paymentRefunded">;

function entryOf(payment: Payment, kind: string, body: EventBody, now: number) {
  const eventId = newId("evt", now);
  const entry: OutboxEntry<PaymentEvent> = {
    eventId,
    kind,
    columns: { payment_id: payment.paymentId, order_id: payment.orderId },
    event: {
      sequence: 0,
      eventId,
      createTime: new Date(now),
      paymentId: payment.paymentId,
      orderId: payment.orderId,
      userId: payment.userId,
      ...body,
    },
  };
  return entry;
}

/** The event announcing that `payment` (as stored) was captured. */
export const capturedEvent = (payment: Payment, now: number): OutboxEntry<PaymentEvent> =>
  entryOf(payment, "PAYMENT_CAPTURED", { paymentCaptured: { payment } }, now);

/** The event announcing a refund of `amount`; `payment` is as stored after it. */
export const refundedEvent = (
  payment: Payment,
  refund: { refundId: string; amount: Money; reason: string },
  now: number,
): OutboxEntry<PaymentEvent> =>
  entryOf(payment, "PAYMENT_REFUNDED", { paymentRefunded: { payment, ...refund } }, now);
