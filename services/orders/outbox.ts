import { OrderEvent, OrderStatus, type Order } from "../../gen/shop/orders/v1/orders";
import { newId } from "../../mesh";
import { createOutbox, type Outbox, type OutboxEntry } from "../common/outbox";
import type { Store } from "../../mesh";

/** The orders outbox: OrderEvents, in the shared outbox tables. */
export type OrdersOutbox = Outbox<OrderEvent>;

/** The orders outbox in the orders store. */
export const createOrdersOutbox = (store: Store): OrdersOutbox => createOutbox(store, OrderEvent);

/** The event announcing how `order` (as stored after the change) ended. */
export function orderEventOf(order: Order, now: number): OutboxEntry<OrderEvent> {
  const base = {
    sequence: 0,
    eventId: newId("evt", now),
    createTime: new Date(now),
    orderId: order.orderId,
    userId: order.userId,
  };
  const columns = { order_id: order.orderId, user_id: order.userId };
  switch (order.status) {
    case OrderStatus.ORDER_STATUS_CONFIRMED:
      return {
        eventId: base.eventId,
        kind: "ORDER_CONFIRMED",
        columns,
        event: { ...base, orderConfirmed: { order } },
      };
    case OrderStatus.ORDER_STATUS_REJECTED:
      return {
        eventId: base.eventId,
        kind: "ORDER_REJECTED",
        columns,
        event: { ...base, orderRejected: { order } },
      };
    default:
      throw new Error(`order ${order.orderId} has not ended; there is no event for it`);
  }
}
