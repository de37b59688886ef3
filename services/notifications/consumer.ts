import { OrderEvent, type OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentEvent, type PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import type { Logger, Peer } from "../../mesh";
import { notificationOf, refundNotificationOf } from "./messages";
import { createNatsConsumer, type NatsConsumer } from "./nats-consumer";
import { ORDERS_STREAM, PAYMENTS_STREAM, type NotificationsStore } from "./store";
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

/**
 * With events.transport nats: the orders and payments streams through NATS JetStream, each
 * with a durable pull consumer named {@link CONSUMER}, in place of the two gRPC streams.
 */
export function createNatsEventConsumers(
  url: string,
  store: NotificationsStore,
  log: Logger,
): NatsConsumer[] {
  const common = { url, durable: CONSUMER, store, log };
  return [
    createNatsConsumer<OrderEvent>({
      ...common,
      stream: ORDERS_STREAM,
      codec: OrderEvent,
      notificationOf,
    }),
    createNatsConsumer<PaymentEvent>({
      ...common,
      stream: PAYMENTS_STREAM,
      codec: PaymentEvent,
      notificationOf: refundNotificationOf,
    }),
  ];
}
