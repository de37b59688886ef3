import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../gen/shop/payments/v1/payments";
import { UserServiceService } from "../gen/shop/users/v1/users";
import {
  createPeer,
  openStore,
  silentLogger,
  type Peer,
  type PolicyConfig,
  type Store,
} from "../mesh";
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
import { createUsersService } from "../services/users/service";
import { createUsersStore } from "../services/users/store";
import { projectPolicy, startTestServer, type TestServer } from "./support";

/** The four services in this process, each on its own port and store, talking real gRPC. */
export interface TestShop {
  users: Peer<typeof UserServiceService>;
  inventory: Peer<typeof InventoryServiceService>;
  payments: Peer<typeof PaymentServiceService>;
  orders: Peer<typeof OrderServiceService>;
  ordersStore: OrdersStore;
  recovery: Recovery;
  /** Where each service listens. */
  addresses: Record<"users" | "inventory" | "payments" | "orders", string>;
  /** Stops the payments server (its store stays), as if the process died. */
  stopPayments(): Promise<void>;
  /** Starts payments again on the same port and store. */
  startPayments(): Promise<void>;
  stop(): Promise<void>;
}

/** Options for {@link startShop}. */
export interface ShopOptions {
  /** Overrides of the project's policy, for example shorter timeouts. */
  policy?: Partial<PolicyConfig>;
  /**
   * Where each service's store lives (a SQLite file or a PostgreSQL URL, see openStore);
   * a private in-memory SQLite database by default.
   */
  storeOf?: (service: "users" | "inventory" | "payments" | "orders") => string;
}

export async function startShop(options: ShopOptions = {}): Promise<TestShop> {
  const policy = { ...projectPolicy(), ...options.policy };
  const log = silentLogger();
  const stores: Store[] = [];
  const storeOf = options.storeOf ?? (() => ":memory:");
  const open = async (
    service: Parameters<typeof storeOf>[0],
    m: Parameters<typeof openStore>[0]["migrations"],
  ): Promise<Store> => {
    const store = await openStore({ file: storeOf(service), migrations: m, log });
    stores.push(store);
    return store;
  };

  const usersStore = await open("users", usersMigrations);
  const inventoryStore = await open("inventory", inventoryMigrations);
  const paymentsStore = await open("payments", paymentsMigrations);
  const ordersDb = await open("orders", ordersMigrations);

  const servers: TestServer[] = [];
  servers.push(
    await startTestServer((s) =>
      s.addService(UserServiceService, createUsersService({ store: createUsersStore(usersStore) })),
    ),
    await startTestServer((s) =>
      s.addService(
        InventoryServiceService,
        createInventoryService({ store: createInventoryStore(inventoryStore) }),
      ),
    ),
  );
  const paymentsHandlers = createPaymentsService({ store: createPaymentsStore(paymentsStore) });
  let paymentsServer = await startTestServer((s) =>
    s.addService(PaymentServiceService, paymentsHandlers),
  );
  const paymentsAddress = paymentsServer.address;

  const peers = {
    users: createPeer(UserServiceService, { target: servers[0].address, policy }),
    inventory: createPeer(InventoryServiceService, { target: servers[1].address, policy }),
    payments: createPeer(PaymentServiceService, { target: paymentsAddress, policy }),
  };
  const ordersStore = createOrdersStore(ordersDb);
  const saga = createSaga({ store: ordersStore, ...peers, log });
  const ordersServer = await startTestServer((s) =>
    s.addService(OrderServiceService, createOrdersService({ store: ordersStore, saga })),
  );
  servers.push(ordersServer);
  const orders = createPeer(OrderServiceService, { target: ordersServer.address, policy });

  return {
    ...peers,
    orders,
    ordersStore,
    addresses: {
      users: servers[0].address,
      inventory: servers[1].address,
      payments: paymentsAddress,
      orders: ordersServer.address,
    },
    recovery: createRecovery({ store: ordersStore, saga, log }),
    stopPayments: () => paymentsServer.close(),
    async startPayments() {
      paymentsServer = await startTestServer(
        (s) => s.addService(PaymentServiceService, paymentsHandlers),
        paymentsAddress,
      );
    },
    async stop() {
      for (const peer of [orders, peers.users, peers.inventory, peers.payments]) peer.close();
      await Promise.all([...servers, paymentsServer].map((s) => s.close()));
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}
