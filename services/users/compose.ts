import { AuthServiceService } from "../../gen/shop/users/v1/auth";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { served, type ServiceModule } from "../../mesh";
import { createAuthService } from "./auth";
import { migrations } from "./migrations";
import type { ScryptParams } from "./passwords";
import { createUsersService } from "./service";
import { loadOrCreateSigningKey, type SigningKey } from "./signing-key";
import { createUsersStore } from "./store";

/** What tests change: cheaper password hashes, and a key they already hold. */
export interface UsersOptions {
  /** Defaults to the key in the data folder, made on first start. */
  key?: SigningKey;
  /** Defaults to passwords.ts's DEFAULT_SCRYPT, which is meant to be slow. */
  scrypt?: ScryptParams;
}

/** Users: accounts, passwords, and the access tokens every other service verifies. */
export const users: ServiceModule<UsersOptions> = {
  migrations,
  async compose({ store, topology }, options = {}) {
    const usersStore = createUsersStore(store);
    // Made on first start; its public half is what every service verifies tokens with.
    const key = options.key ?? (await loadOrCreateSigningKey(topology.dataDir));
    const { scrypt } = options;
    return {
      services: [
        served(UserServiceService, createUsersService({ store: usersStore, scrypt })),
        served(AuthServiceService, createAuthService({ store: usersStore, key, scrypt })),
      ],
    };
  },
};
