/**
 * One process of the echo call graph: `node dist/bench/graph-server.js <service>
 * [users=<target> inventory=<target> payments=<target>]`. Serves the shop's real contract for
 * users, inventory, payments or orders through a mesh server, with handlers that answer a
 * fixed response and touch no store; orders' PlaceOrder calls the three others in turn, as
 * the saga does. Prints `LISTENING <port>`; exits on SIGTERM.
 */
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
  createFaultSource,
  createMeshServer,
  createPeer,
  loadTopology,
  silentLogger,
  StatusError,
  type CallContext,
  type PolicyConfig,
} from "../mesh";
import { exitWithParent } from "./child";

type Handlers = Record<string, (request: never, ctx: CallContext) => Promise<unknown>>;

/** Every method of `definition` answers UNIMPLEMENTED except those in `answers`. */
function handlersFor(definition: ServiceDefinition, answers: Handlers): Handlers {
  const unimplemented = () =>
    Promise.reject(new StatusError(status.UNIMPLEMENTED, "not part of the echo graph"));
  return Object.fromEntries(Object.keys(definition).map((k) => [k, answers[k] ?? unimplemented]));
}

/** The fixed answers, built once: the echo graph measures the calls, not the handlers. */
function ordersHandlers(policy: PolicyConfig, targets: Map<string, string>): Handlers {
  const peer = <S extends ServiceDefinition>(definition: S, name: string) => {
    const target = targets.get(name);
    if (!target) throw new Error(`orders needs ${name}=<target>`);
    return createPeer(definition, { target, policy });
  };
  const users = peer(UserServiceService, "users");
  const inventory = peer(InventoryServiceService, "inventory");
  const payments = peer(PaymentServiceService, "payments");
  const amount = { currencyCode: "USD", units: 10, nanos: 0 };
  return {
    placeOrder: async (request: PlaceOrderRequest, ctx: CallContext) => {
      const options = { parent: ctx };
      const orderId = `ord_${request.requestId}`;
      await users.getUser({ userId: request.userId }, options);
      await inventory.reserveStock({ orderId, items: request.items }, options);
      await payments.charge(
        { orderId, userId: request.userId, amount, paymentMethod: request.paymentMethod },
        options,
      );
      return PlaceOrderResponse.fromPartial({
        order: { orderId, userId: request.userId, status: OrderStatus.ORDER_STATUS_CONFIRMED },
      });
    },
  };
}

async function main(): Promise<void> {
  const [service, ...rest] = process.argv.slice(2);
  const targets = new Map(rest.map((arg) => arg.split("=") as [string, string]));
  const topology = loadTopology();
  const ok =
    <T>(value: T) =>
    () =>
      Promise.resolve(value);
  const graph: Record<string, () => [ServiceDefinition, Handlers]> = {
    users: () => [
      UserServiceService,
      { getUser: ok(GetUserResponse.fromPartial({ user: { userId: "usr_echo" } })) },
    ],
    inventory: () => [
      InventoryServiceService,
      { reserveStock: ok(ReserveStockResponse.fromPartial({ reservation: {} })) },
    ],
    payments: () => [
      PaymentServiceService,
      { charge: ok(ChargeResponse.fromPartial({ payment: { paymentId: "pay_echo" } })) },
    ],
    orders: () => [OrderServiceService, ordersHandlers(topology.policy, targets)],
  };
  const build = graph[service];
  if (!build) throw new Error(`usage: graph-server users|inventory|payments|orders [name=target…]`);
  const [definition, answers] = build();
  // As the real services run: the topology's limits, a fault source with nothing in force.
  const server = createMeshServer({
    log: silentLogger(),
    limits: topology.limits,
    faults: createFaultSource(service, []),
  });
  server.addService(definition, handlersFor(definition, answers) as never);
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  exitWithParent();
  console.log(`LISTENING ${port}`);
}

main().catch((err: unknown) => {
  console.error("graph-server failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
