import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { createServiceProcess, onShutdownSignal, runMain, serve } from "../../mesh";
import { createNatsEventConsumers, createOrdersConsumer, createPaymentsConsumer } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("notifications");
  const { topology, log, server, faults, connect } = service;
  const store = await service.openStore(migrations, "full");
  const notifications = createNotificationsStore(store);

  const orders = connect(OrderServiceService, "orders");
  const payments = connect(PaymentServiceService, "payments");
  const { natsUrl } = topology.events;
  // Two streams, two durable cursors (ours, or JetStream's with events.transport nats): each
  // resumes and reconnects on its own.
  const consumers =
    topology.events.transport === "nats" && natsUrl
      ? createNatsEventConsumers(natsUrl, notifications, log)
      : [
          createOrdersConsumer({ store: notifications, orders, log }),
          createPaymentsConsumer({ store: notifications, payments, log }),
        ];

  server.addService(
    NotificationServiceService,
    createNotificationsService({ store: notifications }),
  );
  await serve(service);
  // Events are consumed once the service can answer for them; the cursor says where to resume.
  for (const consumer of consumers) consumer.start();

  onShutdownSignal(log, async () => {
    faults.stop();
    // The consumers first: their last acknowledgements reach the producers while they, stopped
    // by the same Ctrl-C, are still draining; then this server drains.
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await server.shutdown();
    orders.close();
    payments.close();
    await store.close();
  });
}

runMain("notifications", main);
