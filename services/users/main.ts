import { UserServiceService } from "../../gen/shop/users/v1/users";
import {
  createLogger,
  createMeshServer,
  loadTopology,
  onShutdownSignal,
  openStore,
  serviceOf,
} from "../../mesh";
import { migrations } from "./migrations";
import { createUsersService } from "./service";
import { createUsersStore } from "./store";

async function main(): Promise<void> {
  const log = createLogger({ service: "users" });
  const config = serviceOf(loadTopology(), "users");
  const store = await openStore({ file: config.store, migrations, log });

  const server = createMeshServer({ log });
  server.addService(UserServiceService, createUsersService({ store: createUsersStore(store) }));
  const port = await server.listen(config.listen);
  server.ready();
  log.info({ address: config.listen, port, store: config.store }, "serving");

  onShutdownSignal(log, async () => {
    await server.shutdown();
    await store.close();
  });
}

main().catch((err: unknown) => {
  console.error("users failed to start:", err instanceof Error ? err.message : err);
  process.exit(1);
});
