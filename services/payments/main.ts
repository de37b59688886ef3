import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { createServiceProcess, onShutdownSignal, openStore, runMain, serve } from "../../mesh";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("payments");
  const { config, log, server, faults } = service;
  // Money: every commit is synced to disk before the caller hears it succeeded.
  const store = await openStore({
    file: config.store,
    migrations,
    durability: "full",
    log,
    telemetry: service.telemetry,
  });

  server.addService(
    PaymentServiceService,
    createPaymentsService({ store: createPaymentsStore(store) }),
  );
  await serve(service);

  onShutdownSignal(log, async () => {
    faults.stop();
    await server.shutdown();
    await store.close();
  });
}

runMain("payments", main);
