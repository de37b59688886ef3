import { join } from "node:path";
import { Metadata, type ServiceDefinition } from "@grpc/grpc-js";
import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { NotificationServiceService } from "../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../gen/shop/payments/v1/payments";
import { AuthServiceService } from "../gen/shop/users/v1/auth";
import { UserServiceService } from "../gen/shop/users/v1/users";
import {
  createPeer,
  loadTopology,
  openStore,
  silentLogger,
  type ComposedService,
  type Peer,
  type PolicyConfig,
  type ServiceDeps,
  type ServiceModule,
  type Store,
  type Topology,
} from "../mesh";
import { servicesInStartOrder } from "../mesh/config";
import { createEndUserAuthenticator, createTokenVerifier } from "../mesh/identity";
import type { ComposedNotifications } from "../services/notifications/compose";
import type { NotificationsStore } from "../services/notifications/store";
import type { ComposedOrders } from "../services/orders/compose";
import type { Recovery } from "../services/orders/recovery";
import type { OrdersStore } from "../services/orders/store";
import type { UsersOptions } from "../services/users/compose";
import { deriveOnThreadPool, type Derive, type ScryptParams } from "../services/users/passwords";
import { generateSigningKey, type SigningKey } from "../services/users/signing-key";
import { startTestServer, type TestServer } from "./support";

/** Cheap password hashes for tests: the real cost (passwords.ts) is meant to be slow. */
export const TEST_SCRYPT: ScryptParams = { N: 2 ** 10, r: 8, p: 1 };

/** Password hashing for tests: cheap hashes, on the libuv pool (no worker threads to stop). */
export const TEST_PASSWORDS = { scrypt: TEST_SCRYPT, derive: deriveOnThreadPool };

/** Metadata carrying `authorization: Bearer <token>`, as a client sends it. */
export function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

/**
 * Every service of mesh.yaml in this process, each on its own port and store, talking real
 * gRPC, and verifying bearer tokens signed by users' AuthService. Each is built by its own
 * `services/<name>/compose.ts`, as its main.ts builds it; background work (order recovery,
 * event consumers, compaction) starts only where `background` asks for it.
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
  addresses: Record<string, string>;
  /** Creates a user with a password and logs in: its id and a bearer token. */
  signUp(email: string): Promise<{ userId: string; token: string }>;
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
  /** A folder for real SQLite files (`<service>.sqlite`). Defaults to in-memory stores. */
  dataDir?: string;
  /**
   * Where each service's store lives (a SQLite file or a PostgreSQL URL, see openStore);
   * `<dataDir>/<service>.sqlite` with a dataDir, a private in-memory database otherwise.
   */
  storeOf?: (service: string) => string;
  /**
   * Services whose background work (ComposedService.start: event consumers, order recovery,
   * compaction) runs, as in their own process. Defaults to none, so that tests drive it.
   */
  background?: readonly string[];
  /** How users hashes passwords. Defaults to cheap hashes (TEST_SCRYPT) on the libuv pool. */
  passwords?: { scrypt?: ScryptParams; derive?: Derive };
}

const TEST_PASSWORD = "correct horse battery";

/**
 * The service module `services/<name>/compose.ts` exports under the service's name in
 * camelCase (`orders`, `notifications`): how the harness finds each service of mesh.yaml.
 */
export function serviceModuleOf(name: string): ServiceModule<unknown> {
  const exportName = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const file = join(__dirname, "..", "services", name, "compose");
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- found by name at run time
  const exports = require(file) as Record<string, ServiceModule<unknown> | undefined>;
  const module = exports[exportName];
  if (!module?.compose) {
    throw new Error(`services/${name}/compose.ts must export "${exportName}", a ServiceModule`);
  }
  return module;
}

/** A service composed on an in-memory store (or `file`), as its main.ts composes it. */
export interface ComposedForTest<C extends ComposedService = ComposedService> {
  composed: C;
  store: Store;
}

/**
 * Composes service `name` of mesh.yaml with its own compose.ts on a store at `file`
 * (in-memory by default); `connect` gives it its peers (none by default). Close the store.
 */
export async function composeService<C extends ComposedService = ComposedService>(
  name: string,
  options: {
    file?: string;
    connect?: ServiceDeps["connect"];
    serviceOptions?: unknown;
    topology?: Topology;
  } = {},
): Promise<ComposedForTest<C>> {
  const module = serviceModuleOf(name);
  const log = silentLogger();
  const store = await openStore({
    file: options.file ?? ":memory:",
    migrations: module.migrations,
    log,
  });
  const connect: ServiceDeps["connect"] =
    options.connect ??
    ((_, peer) => {
      throw new Error(`${name} was composed without peers, and asked for ${peer}`);
    });
  const topology = options.topology ?? loadTopology({});
  const composed = await module.compose({ store, connect, log, topology }, options.serviceOptions);
  return { composed: composed as C, store };
}

/** One service of the shop running in this process. */
interface Running {
  address: string;
  server: TestServer;
  composed: ComposedService;
}

export async function startShop(options: ShopOptions = {}): Promise<TestShop> {
  const topology = loadTopology({});
  const policy = { ...topology.policy, ...options.policy };
  const log = silentLogger();
  const storeOf =
    options.storeOf ??
    ((service: string) =>
      options.dataDir ? join(options.dataDir, `${service}.sqlite`) : ":memory:");

  // Every server verifies tokens with the public key of the key users signs with.
  const key = await generateSigningKey();
  const verify = createTokenVerifier({ jwks: () => Promise.resolve({ keys: [key.publicJwk] }) });
  const serverOptions = { endUsers: createEndUserAuthenticator(verify) };
  const serviceOptions: Record<string, unknown> = {
    users: {
      key,
      ...TEST_PASSWORDS,
      ...options.passwords,
    } satisfies UsersOptions,
  };

  const running = new Map<string, Running>();
  const stores: Store[] = [];
  const peers: Array<{ close(): void }> = [];
  const connect = <S extends ServiceDefinition>(definition: S, name: string): Peer<S> => {
    const target = running.get(name)?.address;
    if (!target) throw new Error(`${name} is not running (is it in dependsOn, in mesh.yaml?)`);
    const peer = createPeer(definition, { target, policy });
    peers.push(peer);
    return peer;
  };
  const serveComposed = (composed: ComposedService, address?: string): Promise<TestServer> =>
    startTestServer(
      (server) => {
        for (const { definition, handlers } of composed.services) {
          server.addService(definition, handlers);
        }
      },
      address,
      serverOptions,
    );

  for (const name of servicesInStartOrder(topology)) {
    const module = serviceModuleOf(name);
    const store = await openStore({ file: storeOf(name), migrations: module.migrations, log });
    stores.push(store);
    const composed = await module.compose({ store, connect, log, topology }, serviceOptions[name]);
    const server = await serveComposed(composed);
    running.set(name, { address: server.address, server, composed });
  }
  for (const name of options.background ?? []) running.get(name)?.composed.start?.();

  const runningOf = (name: string): Running => {
    const service = running.get(name);
    if (!service) throw new Error(`${name} is not a service of mesh.yaml`);
    return service;
  };
  /** A client of whichever running service serves `definition`. */
  const client = <S extends ServiceDefinition>(definition: S): Peer<S> => {
    const path = Object.values(definition)[0].path;
    for (const [name, service] of running) {
      if (service.composed.services.some((s) => Object.values(s.definition)[0].path === path)) {
        return connect(definition, name);
      }
    }
    throw new Error(`no service of mesh.yaml serves ${path}`);
  };
  const users = client(UserServiceService);
  const auth = client(AuthServiceService);
  const orders = runningOf("orders").composed as ComposedOrders;
  const notifications = runningOf("notifications").composed as ComposedNotifications;

  return {
    users,
    auth,
    inventory: client(InventoryServiceService),
    payments: client(PaymentServiceService),
    orders: client(OrderServiceService),
    notifications: client(NotificationServiceService),
    notificationsStore: notifications.notifications,
    signingKey: key,
    ordersStore: orders.orders,
    recovery: orders.recovery,
    addresses: Object.fromEntries([...running].map(([name, { address }]) => [name, address])),
    async signUp(email) {
      await users.createUser({ email, displayName: email, password: TEST_PASSWORD });
      const { userId, accessToken } = await auth.login({ email, password: TEST_PASSWORD });
      return { userId, token: accessToken };
    },
    stopPayments: () => runningOf("payments").server.close(),
    async startPayments() {
      const payments = runningOf("payments");
      payments.server = await serveComposed(payments.composed, payments.address);
    },
    async stop() {
      for (const name of options.background ?? []) {
        const { composed } = runningOf(name);
        await composed.beforeDrain?.();
        await composed.afterDrain?.();
      }
      for (const peer of peers) peer.close();
      await Promise.all([...running.values()].map(({ server }) => server.close()));
      await Promise.all(stores.map((store) => store.close()));
    },
  };
}
