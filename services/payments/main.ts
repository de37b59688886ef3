import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { createServiceProcess, onShutdownSignal, openStore, runMain, serve } from "../../mesh";
import { createCompaction } from "../common/outbox";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("payments");
  const { config, log, server, faults } = service;
  // Money: every commit is synced to disk before the caller hears it succeeded.
  const store = await openStore({ file: config.store, migrations, durability: "full", log });
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

  onShutdownSignal(log, async () => {
    faults.stop();
    // Event streams never end by themselves (see orders/main.ts).
    stopping.abort();
    await server.shutdown();
    await compaction.stop();
    await store.close();
  });
}

runMain("payments", main);
