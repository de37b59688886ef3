import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderEvent, OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createServiceProcess, onShutdownSignal, runMain, serve } from "../../mesh";
import { startEventRelay } from "../common/nats/relay";
import { createCompaction } from "../common/outbox";
import { migrations } from "./migrations";
import { createRecovery } from "./recovery";
import { createSaga } from "./saga";
import { createOrdersService } from "./service";
import { createOrdersStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("orders");
  const { topology, log, server, faults, connect } = service;
  const store = await service.openStore(migrations, "full");
  const orders = createOrdersStore(store);

  const users = connect(UserServiceService, "users");
  const inventory = connect(InventoryServiceService, "inventory");
  const payments = connect(PaymentServiceService, "payments");
  const saga = createSaga({ store: orders, users, inventory, payments, log });
  const recovery = createRecovery({ store: orders, saga, log });
  const compaction = createCompaction({ outbox: orders.events, log });
  const stopping = new AbortController();

  server.addService(
    OrderServiceService,
    createOrdersService({ store: orders, saga, stopping: stopping.signal }),
  );
  await serve(service);
  // Orders a crash left PENDING are finished now, and any that get stuck later, every few seconds.
  recovery.start();
  // Events every consumer has acknowledged are deleted once past their retention.
  compaction.start();
  // With events.transport nats, the outbox is also published to JetStream.
  const relay = startEventRelay(topology.events, {
    producer: "orders",
    outbox: orders.events,
    codec: OrderEvent,
    log,
  });

  onShutdownSignal(log, async () => {
    faults.stop();
    // Event streams never end by themselves: ending them now (UNAVAILABLE, so consumers
    // resume elsewhere) keeps them from holding the drain up until the grace runs out.
    stopping.abort();
    await server.shutdown();
    await Promise.all([recovery.stop(), compaction.stop(), relay?.stop()]);
    for (const client of [users, inventory, payments]) client.close();
    await store.close();
  });
}

runMain("orders", main);
