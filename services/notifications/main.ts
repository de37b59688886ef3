import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { createServiceProcess, onShutdownSignal, openStore, runMain, serve } from "../../mesh";
import { createOrdersConsumer } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("notifications");
  const { config, log, server, faults, connect } = service;
  const store = await openStore({ file: config.store, migrations, durability: "full", log });
  const notifications = createNotificationsStore(store);

  const orders = connect(OrderServiceService, "orders");
  const consumer = createOrdersConsumer({ store: notifications, orders, log });

  server.addService(
    NotificationServiceService,
    createNotificationsService({ store: notifications }),
  );
  await serve(service);
  // Events are consumed once the service can answer for them; the cursor says where to resume.
  consumer.start();

  onShutdownSignal(log, async () => {
    faults.stop();
    // The consumer first: its last acknowledgement reaches orders while orders, stopped by the
    // same Ctrl-C, is still draining; then this server drains.
    await consumer.stop();
    await server.shutdown();
    orders.close();
    await store.close();
  });
}

runMain("notifications", main);
