/**
 * One member of the echo call graph: `node dist/bench/graph-server.js <service>`, started by
 * the supervisor in place of the service's own program (see place-order.ts). It is the real
 * service process (createServiceProcess: the topology, mTLS identity, access control, end-user
 * tokens, telemetry, admin port, health) serving the shop's real contract, with handlers that
 * answer a fixed response and touch no store; orders' PlaceOrder calls the three others in
 * turn, as the saga does. What is left is the cost of the call graph itself.
 *
 * With `--floor` each handler first does its service's share of the store floor
 * (store-floor.ts): the least node-sqlite3 work a durable order needs, on a SQLite file of its
 * own. That graph is the limit of the real one with this driver: the call graph plus the
 * stores' unavoidable trips and fsyncs, without the services' own work.
 */
import { join } from "node:path";
import { status, type ServiceDefinition } from "@grpc/grpc-js";
import { InventoryServiceService, ReserveStockResponse } from "../gen/shop/inventory/v1/inventory";
import {
  OrderServiceService,
  OrderStatus,
  PlaceOrderResponse,
  type PlaceOrderRequest,
} from "../gen/shop/orders/v1/orders";
import { ChargeResponse, PaymentServiceService } from "../gen/shop/payments/v1/payments";
import { GetUserResponse, UserServiceService } from "../gen/shop/users/v1/users";
import {
  createServiceProcess,
  onShutdownSignal,
  runMain,
  serve,
  StatusError,
  type CallContext,
  type ServiceProcess,
} from "../mesh";
import { readFlags, usageError } from "../scripts/cli";
import { openStoreFloor, type StoreFloor } from "./store-floor";

type Handlers = Record<string, (request: never, ctx: CallContext) => Promise<unknown>>;

/** Every method of `definition` answers UNIMPLEMENTED except those in `answers`. */
function handlersFor(definition: ServiceDefinition, answers: Handlers): Handlers {
  const unimplemented = () =>
    Promise.reject(new StatusError(status.UNIMPLEMENTED, "not part of the echo graph"));
  return Object.fromEntries(Object.keys(definition).map((k) => [k, answers[k] ?? unimplemented]));
}

/**
 * The fixed answers, built once: the echo graph measures the calls, not the handlers. With a
 * floor, orders writes before the calls and after them, as the real one records the order
 * PENDING and then its outcome.
 */
function ordersHandlers(
  connect: ServiceProcess["connect"],
  peers: { close(): void }[],
  floor: StoreFloor | undefined,
): Handlers {
  const users = connect(UserServiceService, "users");
  const inventory = connect(InventoryServiceService, "inventory");
  const payments = connect(PaymentServiceService, "payments");
  peers.push(users, inventory, payments);
  const amount = { currencyCode: "USD", units: 10, nanos: 0 };
  return {
    placeOrder: async (request: PlaceOrderRequest, ctx: CallContext) => {
      const options = { parent: ctx };
      const orderId = `ord_${request.requestId}`;
      await floor?.write();
      await users.getUser({ userId: request.userId }, options);
      await inventory.reserveStock({ orderId, items: request.items }, options);
      await payments.charge(
        { orderId, userId: request.userId, amount, paymentMethod: request.paymentMethod },
        options,
      );
      await floor?.write();
      return PlaceOrderResponse.fromPartial({
        order: { orderId, userId: request.userId, status: OrderStatus.ORDER_STATUS_CONFIRMED },
      });
    },
  };
}

const SCRIPT = {
  name: "graph-server",
  usage: `usage: node dist/bench/graph-server.js [--floor] users|inventory|payments|orders

One member of npm run bench's echo call graph (section c), started by its supervisor in
place of the service's own program: the real service process with fixed answers and no store.

  --floor             first do the service's share of the store floor (bench/store-floor.ts)
  -h, --help          show this and exit`,
  options: { floor: { type: "boolean" } },
  positionals: true,
} as const;

async function main(): Promise<void> {
  const { positionals, values } = readFlags(SCRIPT);
  const name = positionals[0];
  const peers: { close(): void }[] = [];
  let floor: StoreFloor | undefined;
  // The answer, after the floor's write (inventory, payments) if there is one.
  const ok =
    <T>(value: T, floorWrites = false) =>
    async () => {
      if (floorWrites) await floor?.write();
      return value;
    };
  const graph: Record<string, (service: ServiceProcess) => [ServiceDefinition, Handlers]> = {
    users: () => [
      UserServiceService,
      { getUser: ok(GetUserResponse.fromPartial({ user: { userId: "usr_echo" } })) },
    ],
    inventory: () => [
      InventoryServiceService,
      { reserveStock: ok(ReserveStockResponse.fromPartial({ reservation: {} }), true) },
    ],
    payments: () => [
      PaymentServiceService,
      { charge: ok(ChargeResponse.fromPartial({ payment: { paymentId: "pay_echo" } }), true) },
    ],
    orders: (service) => [OrderServiceService, ordersHandlers(service.connect, peers, floor)],
  };
  const build = name === undefined ? undefined : graph[name];
  if (positionals.length !== 1 || !build)
    usageError(
      SCRIPT,
      `expected one of ${Object.keys(graph).join(", ")}; got "${positionals.join(" ")}"`,
    );
  const service = createServiceProcess(name);
  // Users has no share: the floor reads nothing (store-floor.ts).
  if (values.floor && name !== "users") {
    floor = await openStoreFloor(join(service.topology.dataDir, `${name}-floor.sqlite`));
  }
  const [definition, answers] = build(service);
  service.server.addService(definition, handlersFor(definition, answers) as never);
  await serve(service);
  onShutdownSignal(service.log, async () => {
    service.faults.stop();
    await service.server.shutdown();
    for (const peer of peers) peer.close();
    await floor?.close();
  });
}

runMain("graph-server", main);
