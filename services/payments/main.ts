import { PaymentEvent, PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { createServiceProcess, onShutdownSignal, runMain, serve } from "../../mesh";
import { startEventRelay } from "../common/nats/relay";
import { createCompaction } from "../common/outbox";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("payments");
  const { topology, log, server, faults } = service;
  // Money: every commit is synced to disk before the caller hears it succeeded.
  const store = await service.openStore(migrations, "full");
  const payments = createPaymentsStore(store);
  const compaction = createCompaction({ outbox: payments.events, log });
  const stopping = new AbortController();

  server.addService(
    PaymentServiceService,
    createPaymentsService({ store: payments, stopping: stopping.signal }),
  );
  await serve(service);
  // Events every consumer has acknowledged are deleted once past their retention.
  compaction.start();
  // With events.transport nats, the outbox is also published to JetStream.
  const relay = startEventRelay(topology.events, {
    producer: "payments",
    outbox: payments.events,
    codec: PaymentEvent,
    log,
  });

  onShutdownSignal(log, async () => {
    faults.stop();
    // Event streams never end by themselves (see orders/main.ts).
    stopping.abort();
    await server.shutdown();
    await Promise.all([compaction.stop(), relay?.stop()]);
    await store.close();
  });
}

runMain("payments", main);
