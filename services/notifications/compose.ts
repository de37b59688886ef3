import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { served, type ComposedService, type ServiceModule } from "../../mesh";
import { createNatsEventConsumers, createOrdersConsumer, createPaymentsConsumer } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore, type NotificationsStore } from "./store";

/** Notifications as composed, with the store tests read. */
export interface ComposedNotifications extends ComposedService {
  readonly notifications: NotificationsStore;
}

/** Notifications: one per order and payment event, consumed from both producers' streams. */
export const notifications: ServiceModule<undefined, ComposedNotifications> = {
  migrations,
  durability: "full",
  async compose({ store, connect, topology, log }) {
    const notificationsStore = createNotificationsStore(store);
    const { natsUrl } = topology.events;
    // Two streams, two durable cursors (ours, or JetStream's with events.transport nats): each
    // resumes and reconnects on its own.
    const consumers =
      topology.events.transport === "nats" && natsUrl
        ? createNatsEventConsumers(natsUrl, notificationsStore, log)
        : [
            createOrdersConsumer({
              store: notificationsStore,
              orders: connect(OrderServiceService, "orders"),
              log,
            }),
            createPaymentsConsumer({
              store: notificationsStore,
              payments: connect(PaymentServiceService, "payments"),
              log,
            }),
          ];
    const handlers = createNotificationsService({ store: notificationsStore });
    return {
      notifications: notificationsStore,
      services: [served(NotificationServiceService, handlers)],
      // Events are consumed once the service can answer for them; the cursor says where to
      // resume.
      start() {
        for (const consumer of consumers) consumer.start();
      },
      // The consumers first: their last acknowledgements reach the producers while they,
      // stopped by the same Ctrl-C, are still draining; then this server drains.
      async beforeDrain() {
        await Promise.all(consumers.map((consumer) => consumer.stop()));
      },
    };
  },
};
