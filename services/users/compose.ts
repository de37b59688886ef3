import { AuthServiceService } from "../../gen/shop/users/v1/auth";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { served, type ServiceModule } from "../../mesh";
import { createAuthService } from "./auth";
import { createHashWorkers } from "./hash-workers";
import { migrations } from "./migrations";
import type { Derive, ScryptParams } from "./passwords";
import { createUsersService } from "./service";
import { loadOrCreateSigningKey, type SigningKey } from "./signing-key";
import { createUsersStore } from "./store";

/** What tests change: a key they already hold, and cheaper password hashing. */
export interface UsersOptions {
  /** Defaults to the key in the data folder, made on first start. */
  key?: SigningKey;
  /** Defaults to passwords.ts's DEFAULT_SCRYPT, which is meant to be slow. */
  scrypt?: ScryptParams;
  /**
   * Where password keys are derived. Defaults to users' own worker threads (hash-workers.ts):
   * the libuv pool is the SQLite driver's, and a flood of logins must not starve it.
   */
  derive?: Derive;
}

/** Users: accounts, passwords, and the access tokens every other service verifies. */
export const users: ServiceModule<UsersOptions> = {
  migrations,
  async compose({ store, topology }, options = {}) {
    const usersStore = createUsersStore(store);
    // Made on first start; its public half is what every service verifies tokens with.
    const key = options.key ?? (await loadOrCreateSigningKey(topology.dataDir));
    const hashing = options.derive ? undefined : createHashWorkers();
    const passwords = { scrypt: options.scrypt, derive: options.derive ?? hashing?.derive };
    return {
      services: [
        served(UserServiceService, createUsersService({ store: usersStore, ...passwords })),
        served(AuthServiceService, createAuthService({ store: usersStore, key, ...passwords })),
      ],
      async afterDrain() {
        await hashing?.close();
      },
    };
  },
};
