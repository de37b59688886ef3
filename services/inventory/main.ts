import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
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
import { createInventoryService } from "./service";
import { createInventoryStore } from "./store";

async function main(): Promise<void> {
  const topology = loadTopology();
  const config = serviceOf(topology, "inventory");
  const log = createLogger({ service: "inventory", instance: `inventory-${config.instance}` });
  // Full durability: a reservation lost to a power cut after orders confirmed would oversell.
  const store = await openStore({ file: config.store, migrations, durability: "full", log });

  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, "inventory", log);
  const server = createMeshServer({ log, limits: topology.limits, faults });
  server.addService(
    InventoryServiceService,
    createInventoryService({ store: createInventoryStore(store) }),
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
  console.error("inventory failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
