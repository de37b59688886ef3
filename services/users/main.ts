import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createServiceProcess, onShutdownSignal, openStore, runMain, serve } from "../../mesh";
import { migrations } from "./migrations";
import { createUsersService } from "./service";
import { createUsersStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("users");
  const { config, log, server, faults } = service;
  const store = await openStore({
    file: config.store,
    migrations,
    log,
    telemetry: service.telemetry,
  });

  server.addService(UserServiceService, createUsersService({ store: createUsersStore(store) }));
  await serve(service);

  onShutdownSignal(log, async () => {
    faults.stop();
    await server.shutdown();
    await store.close();
  });
}

runMain("users", main);
