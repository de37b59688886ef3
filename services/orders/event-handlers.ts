import type { OrderEvent } from "../../gen/shop/orders/v1/orders";
import { createEventStreamHandlers, type EventStreamOptions } from "../common/outbox";
import type { OrdersStore } from "./store";

/** What StreamEvents and AckEvents need; part of the orders service's dependencies. */
export interface EventHandlersDeps extends Omit<
  EventStreamOptions<OrderEvent>,
  "outbox" | "producer"
> {
  store: OrdersStore;
}

/** The StreamEvents and AckEvents handlers, over the orders outbox. */
export function createEventHandlers(deps: EventHandlersDeps) {
  return createEventStreamHandlers({ ...deps, outbox: deps.store.events, producer: "orders" });
}
