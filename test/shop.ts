import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { NotificationServiceService } from "../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../gen/shop/payments/v1/payments";
import { AuthServiceService } from "../gen/shop/users/v1/auth";
import { UserServiceService } from "../gen/shop/users/v1/users";
import {
  createEndUserAuthenticator,
  createPeer,
  createTokenVerifier,
  openStore,
  silentLogger,
  type MeshServer,
  type Peer,
  type PolicyConfig,
  type Store,
} from "../mesh";
import { migrations as notificationsMigrations } from "../services/notifications/migrations";
import { createNotificationsService } from "../services/notifications/service";
import { createNotificationsStore, type NotificationsStore } from "../services/notifications/store";
import { migrations as inventoryMigrations } from "../services/inventory/migrations";
import { createInventoryService } from "../services/inventory/service";
import { createInventoryStore } from "../services/inventory/store";
import { migrations as ordersMigrations } from "../services/orders/migrations";
import { createRecovery, type Recovery } from "../services/orders/recovery";
import { createSaga } from "../services/orders/saga";
import { createOrdersService } from "../services/orders/service";
import { createOrdersStore, type OrdersStore } from "../services/orders/store";
import { migrations as paymentsMigrations } from "../services/payments/migrations";
import { createPaymentsService } from "../services/payments/service";
import { createPaymentsStore } from "../services/payments/store";
import { migrations as usersMigrations } from "../services/users/migrations";
import { createAuthService } from "../services/users/auth";
import type { Derive, ScryptParams } from "../services/users/passwords";
import { createUsersService } from "../services/users/service";
import { generateSigningKey, type SigningKey } from "../services/users/signing-key";
import { createUsersStore } from "../services/users/store";
import { projectPolicy, startTestServer, type TestServer } from "./support";

/** Cheap password hashes for tests: the real cost (passwords.ts) is meant to be slow. */
export const TEST_SCRYPT: ScryptParams = { N: 2 ** 10, r: 8, p: 1 };

/** Metadata carrying `authorization: Bearer <token>`, as a client sends it. */
export function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/**
 * The five services in this process, each on its own port and store, talking real gRPC, and
 * verifying bearer tokens signed by users' AuthService (notifications without its consumer).
 */
export interface TestShop {
  users: Peer<typeof UserServiceService>;
  auth: Peer<typeof AuthServiceService>;
  notifications: Peer<typeof NotificationServiceService>;
  notificationsStore: NotificationsStore;
  /** The key users signs tokens with, for tests that forge tokens the way users would. */
  signingKey: SigningKey;
  inventory: Peer<typeof InventoryServiceService>;
  payments: Peer<typeof PaymentServiceService>;
  orders: Peer<typeof OrderServiceService>;
  ordersStore: OrdersStore;
  recovery: Recovery;
  /** Where each service listens. */
  addresses: Record<"users" | "inventory" | "payments" | "orders" | "notifications", string>;
  /** Creates a user with a password and logs in: its id and a bearer token. */
  signUp(email: string): Promise<{ userId: string; token: string }>;
  /** Stops the payments server (its store stays), as if the process died. */
  stopPayments(): Promise<void>;
  /** Starts payments again on the same port and store. */
  startPayments(): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link startShop}. */
/** The services of the shop that keep a store. */
export type ShopService = "users" | "inventory" | "payments" | "orders" | "notifications";

export interface ShopOptions {
  /** Overrides of the project's policy, for example shorter timeouts. */
  policy?: Partial<PolicyConfig>;
  /** A folder for real SQLite files (`<service>.sqlite`). Defaults to in-memory stores. */
  dataDir?: string;
  /**
   * Where each service's store lives (a SQLite file or a PostgreSQL URL, see openStore);
   * `<dataDir>/<service>.sqlite` with a dataDir, a private in-memory database otherwise.
   */
  storeOf?: (service: ShopService) => string;
  /** How users hashes passwords. Defaults to cheap hashes (TEST_SCRYPT) on the libuv pool. */
  passwords?: { scrypt?: ScryptParams; derive?: Derive };
}

const TEST_PASSWORD = "correct horse battery";

export async function startShop(options: ShopOptions = {}): Promise<TestShop> {
  const policy = { ...projectPolicy(), ...options.policy };
  const log = silentLogger();
  const stores: Store[] = [];
  const storeOf =
    options.storeOf ??
    ((service: ShopService) =>
      options.dataDir ? join(options.dataDir, `${service}.sqlite`) : ":memory:");
  const open = async (
    service: ShopService,
    m: Parameters<typeof openStore>[0]["migrations"],
  ): Promise<Store> => {
    const store = await openStore({ file: storeOf(service), migrations: m, log });
    stores.push(store);
    return store;
  };

  const usersStore = createUsersStore(await open("users", usersMigrations));
  const inventoryStore = await open("inventory", inventoryMigrations);
  const paymentsStore = await open("payments", paymentsMigrations);
  const ordersDb = await open("orders", ordersMigrations);
  const notificationsStore = createNotificationsStore(
    await open("notifications", notificationsMigrations),
  );

  // Every server verifies tokens with the public key of the key users signs with.
  const key = await generateSigningKey();
  const verify = createTokenVerifier({ jwks: () => Promise.resolve({ keys: [key.publicJwk] }) });
  const serverOptions = { endUsers: createEndUserAuthenticator(verify) };
  const start = (register: (server: MeshServer) => void): Promise<TestServer> =>
    startTestServer(register, "127.0.0.1:0", serverOptions);

  const servers: TestServer[] = [];
  servers.push(
    await start((s) => {
      const passwords = { scrypt: TEST_SCRYPT, ...options.passwords };
      s.addService(UserServiceService, createUsersService({ store: usersStore, ...passwords }));
      s.addService(AuthServiceService, createAuthService({ store: usersStore, key, ...passwords }));
    }),
    await start((s) =>
      s.addService(
        InventoryServiceService,
        createInventoryService({ store: createInventoryStore(inventoryStore) }),
      ),
    ),
  );
  const paymentsHandlers = createPaymentsService({ store: createPaymentsStore(paymentsStore) });
  let paymentsServer = await start((s) => s.addService(PaymentServiceService, paymentsHandlers));
  const notificationsServer = await start((s) =>
    s.addService(
      NotificationServiceService,
      createNotificationsService({ store: notificationsStore }),
    ),
  );
  servers.push(notificationsServer);
  const paymentsAddress = paymentsServer.address;

  const peers = {
    users: createPeer(UserServiceService, { target: servers[0].address, policy }),
    inventory: createPeer(InventoryServiceService, { target: servers[1].address, policy }),
    payments: createPeer(PaymentServiceService, { target: paymentsAddress, policy }),
  };
  const ordersStore = createOrdersStore(ordersDb);
  const saga = createSaga({ store: ordersStore, ...peers, log });
  const ordersServer = await start((s) =>
    s.addService(OrderServiceService, createOrdersService({ store: ordersStore, saga })),
  );
  servers.push(ordersServer);
  const orders = createPeer(OrderServiceService, { target: ordersServer.address, policy });
  const auth = createPeer(AuthServiceService, { target: servers[0].address, policy });
  const notifications = createPeer(NotificationServiceService, {
    target: notificationsServer.address,
    policy,
  });

  return {
    ...peers,
    orders,
    auth,
    notifications,
    notificationsStore,
    signingKey: key,
    ordersStore,
    addresses: {
      users: servers[0].address,
      inventory: servers[1].address,
      payments: paymentsAddress,
      orders: ordersServer.address,
      notifications: notificationsServer.address,
    },
    async signUp(email) {
      await peers.users.createUser({ email, displayName: email, password: TEST_PASSWORD });
      const { userId, accessToken } = await auth.login({ email, password: TEST_PASSWORD });
      return { userId, token: accessToken };
    },
    recovery: createRecovery({ store: ordersStore, saga, log }),
    stopPayments: () => paymentsServer.close(),
    async startPayments() {
      paymentsServer = await startTestServer(
        (s) => s.addService(PaymentServiceService, paymentsHandlers),
        paymentsAddress,
        serverOptions,
      );
    },
    async stop() {
      for (const peer of [
        orders,
        auth,
        notifications,
        peers.users,
        peers.inventory,
        peers.payments,
      ])
        peer.close();
      await Promise.all([...servers, paymentsServer].map((s) => s.close()));
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}
