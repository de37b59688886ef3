import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { createServiceProcess, onShutdownSignal, runMain, serve } from "../../mesh";
import { migrations } from "./migrations";
import { createInventoryService } from "./service";
import { createInventoryStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("inventory");
  const { log, server, faults } = service;
  // Full durability: a reservation lost to a power cut after orders confirmed would oversell.
  const store = await service.openStore(migrations, "full");

  server.addService(
    InventoryServiceService,
    createInventoryService({ store: createInventoryStore(store) }),
  );
  await serve(service);

  onShutdownSignal(log, async () => {
    faults.stop();
    await server.shutdown();
    await store.close();
  });
}

runMain("inventory", main);
