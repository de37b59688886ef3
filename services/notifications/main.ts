import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import {
  createPeer,
  createServiceProcess,
  onShutdownSignal,
  openStore,
  runMain,
  serve,
  targetOf,
} from "../../mesh";
import { createOrdersConsumer } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("notifications");
  const { topology, config, log, server, faults } = service;
  const store = await openStore({
    file: config.store,
    migrations,
    durability: "full",
    log,
    telemetry: service.telemetry,
  });
  const notifications = createNotificationsStore(store);

  const orders = createPeer(OrderServiceService, {
    target: targetOf(topology, "orders"),
    policy: topology.policy,
    log,
    telemetry: service.telemetry,
  });
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
