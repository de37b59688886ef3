import { NotificationKind, type Notification } from "../../gen/shop/notifications/v1/notifications";
import type { Order, OrderEvent } from "../../gen/shop/orders/v1/orders";
import type { PaymentEvent } from "../../gen/shop/payments/v1/payments";
import { formatMoney } from "../common/money";

export const CONFIRMED_TITLE = "Your order is confirmed";
export const REJECTED_TITLE = "Your order was not accepted";
export const REFUNDED_TITLE = "Your payment was refunded";

export { formatMoney };

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? "" : "s"}`;

function confirmedBody(orderId: string, order: Order | undefined): string {
  if (!order) return `Order ${orderId} is confirmed.`;
  const count = order.items.reduce((sum, item) => sum + item.quantity, 0);
  const total = order.total ? `, ${formatMoney(order.total)} charged` : "";
  return `Order ${orderId} is confirmed: ${plural(count, "item")}${total}. Thank you!`;
}

function rejectedBody(orderId: string, order: Order | undefined): string {
  const reason = order?.rejectionReason.replace(/\.$/, "") || "no reason was given";
  return `Order ${orderId} was not accepted: ${reason}. Nothing was reserved or charged.`;
}

/**
 * The notification an orders event becomes, or undefined for a kind of event customers are
 * not told about (a newer producer may send kinds this service does not know yet).
 */
export function notificationOf(
  event: OrderEvent,
  notificationId: string,
  createTime: Date,
): Notification | undefined {
  const base = {
    notificationId,
    userId: event.userId,
    orderId: event.orderId,
    eventId: event.eventId,
    createTime,
  };
  if (event.orderConfirmed) {
    return {
      ...base,
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED,
      title: CONFIRMED_TITLE,
      body: confirmedBody(event.orderId, event.orderConfirmed.order),
    };
  }
  if (event.orderRejected) {
    return {
      ...base,
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED,
      title: REJECTED_TITLE,
      body: rejectedBody(event.orderId, event.orderRejected.order),
    };
  }
  return undefined;
}

/**
 * The notification a payments event becomes: one per refund ("Your payment for order X was
 * refunded: €…"); none for a capture, which the order's confirmation already tells.
 */
export function refundNotificationOf(
  event: PaymentEvent,
  notificationId: string,
  createTime: Date,
): Notification | undefined {
  const refunded = event.paymentRefunded;
  if (!refunded) return undefined;
  const amount = refunded.amount ? `: ${formatMoney(refunded.amount)}` : "";
  const reason = refunded.reason ? ` (${refunded.reason.replace(/\.$/, "")})` : "";
  return {
    notificationId,
    userId: event.userId,
    orderId: event.orderId,
    eventId: event.eventId,
    createTime,
    kind: NotificationKind.NOTIFICATION_KIND_PAYMENT_REFUNDED,
    title: REFUNDED_TITLE,
    body: `Your payment for order ${event.orderId} was refunded${amount}${reason}.`,
  };
}
