import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import {
  createLogger,
  createMeshServer,
  loadTopology,
  onShutdownSignal,
  openStore,
  serviceOf,
  watchFaults,
} from "../../mesh";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

async function main(): Promise<void> {
  const topology = loadTopology();
  const config = serviceOf(topology, "payments");
  const log = createLogger({ service: "payments", instance: `payments-${config.instance}` });
  // Money: every commit is synced to disk before the caller hears it succeeded.
  const store = await openStore({ file: config.store, migrations, durability: "full", log });

  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, "payments", log);
  const server = createMeshServer({ log, limits: topology.limits, faults });
  server.addService(
    PaymentServiceService,
    createPaymentsService({ store: createPaymentsStore(store) }),
  );
  const port = await server.listen(config.listen);
  server.ready();
  log.info({ address: config.listen, port, store: config.store }, "serving");

  onShutdownSignal(log, async () => {
    faults.stop();
    await server.shutdown();
    await store.close();
  });
}

main().catch((err: unknown) => {
  console.error("payments failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
