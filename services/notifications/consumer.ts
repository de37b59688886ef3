import type { OrderEvent, OrderServiceService } from "../../gen/shop/orders/v1/orders";
import type { PaymentEvent, PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import type { Peer } from "../../mesh";
import { notificationOf, refundNotificationOf } from "./messages";
import { ORDERS_STREAM, PAYMENTS_STREAM } from "./store";
import {
  createStreamConsumer,
  type StreamConsumer,
  type StreamConsumerOptions,
} from "./stream-consumer";

export type { ConsumerStatus, StreamConsumer } from "./stream-consumer";

/** The name this service reads every producer's stream and acknowledges under. */
export const CONSUMER = "notifications";

/** What both consumers take: the stream consumer's options less what each fixes. */
type ConsumerOptions = Omit<
  StreamConsumerOptions<never>,
  "stream" | "consumer" | "source" | "notificationOf"
>;

/** Options for {@link createOrdersConsumer}. */
export interface OrdersConsumerOptions extends ConsumerOptions {
  /** The orders service; only its event stream and acknowledgements are used. */
  orders: Pick<Peer<typeof OrderServiceService>, "streamEvents" | "ackEvents">;
}

/** Options for {@link createPaymentsConsumer}. */
export interface PaymentsConsumerOptions extends ConsumerOptions {
  /** The payments service; only its event stream and acknowledgements are used. */
  payments: Pick<Peer<typeof PaymentServiceService>, "streamEvents" | "ackEvents">;
}

/** The orders consumer: one notification per confirmed or rejected order. */
export type OrdersConsumer = StreamConsumer;

/** Turns the orders event stream into notifications, exactly one per event. */
export function createOrdersConsumer({
  orders,
  ...options
}: OrdersConsumerOptions): StreamConsumer {
  return createStreamConsumer<OrderEvent>({
    ...options,
    stream: ORDERS_STREAM,
    consumer: CONSUMER,
    source: orders,
    notificationOf,
  });
}

/** Turns the payments event stream into notifications: exactly one per refund. */
export function createPaymentsConsumer({
  payments,
  ...options
}: PaymentsConsumerOptions): StreamConsumer {
  return createStreamConsumer<PaymentEvent>({
    ...options,
    stream: PAYMENTS_STREAM,
    consumer: CONSUMER,
    source: payments,
    notificationOf: refundNotificationOf,
  });
}
