import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import {
  createLogger,
  createMeshServer,
  createPeer,
  loadTopology,
  onShutdownSignal,
  openStore,
  serviceOf,
  targetOf,
  watchFaults,
} from "../../mesh";
import { createOrdersConsumer } from "./consumer";
import { migrations } from "./migrations";
import { createNotificationsService } from "./service";
import { createNotificationsStore } from "./store";

async function main(): Promise<void> {
  const topology = loadTopology();
  const config = serviceOf(topology, "notifications");
  const log = createLogger({
    service: "notifications",
    instance: `notifications-${config.instance}`,
  });
  const store = await openStore({ file: config.store, migrations, durability: "full", log });
  const notifications = createNotificationsStore(store);

  const orders = createPeer(OrderServiceService, {
    target: targetOf(topology, "orders"),
    policy: topology.policy,
    log,
  });
  const consumer = createOrdersConsumer({ store: notifications, orders, log });

  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, "notifications", log);
  const server = createMeshServer({ log, limits: topology.limits, faults });
  server.addService(
    NotificationServiceService,
    createNotificationsService({ store: notifications }),
  );
  const port = await server.listen(config.listen);
  server.ready();
  // Events are consumed once the service can answer for them; the cursor says where to resume.
  consumer.start();
  log.info({ address: config.listen, port, store: config.store }, "serving");

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

main().catch((err: unknown) => {
  console.error("notifications failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
