import { AuthServiceService } from "../../gen/shop/users/v1/auth";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createServiceProcess, onShutdownSignal, runMain, serve } from "../../mesh";
import { migrations } from "./migrations";
import { createAuthService } from "./auth";
import { createHashWorkers } from "./hash-workers";
import { createUsersService } from "./service";
import { loadOrCreateSigningKey } from "./signing-key";
import { createUsersStore } from "./store";

async function main(): Promise<void> {
  const service = createServiceProcess("users");
  const { topology, log, server, faults } = service;
  const store = await service.openStore(migrations);
  const users = createUsersStore(store);
  // Made on first start; its public half is what every service verifies tokens with.
  const key = await loadOrCreateSigningKey(topology.dataDir);

  // Password hashing on worker threads: the libuv pool is the SQLite driver's (issue 15).
  const hashing = createHashWorkers();
  server.addService(
    UserServiceService,
    createUsersService({ store: users, derive: hashing.derive }),
  );
  server.addService(
    AuthServiceService,
    createAuthService({ store: users, key, derive: hashing.derive }),
  );
  await serve(service);

  onShutdownSignal(log, async () => {
    faults.stop();
    await server.shutdown();
    await hashing.close();
    await store.close();
  });
}

runMain("users", main);
