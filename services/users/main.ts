import { UserServiceService } from "../../gen/shop/users/v1/users";
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
import { createUsersService } from "./service";
import { createUsersStore } from "./store";

async function main(): Promise<void> {
  const topology = loadTopology();
  const config = serviceOf(topology, "users");
  const log = createLogger({ service: "users", instance: `users-${config.instance}` });
  const store = await openStore({ file: config.store, migrations, log });

  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, "users", log);
  const server = createMeshServer({ log, limits: topology.limits, faults });
  server.addService(UserServiceService, createUsersService({ store: createUsersStore(store) }));
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
  console.error("users failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
