import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderEvent, OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { served, type ComposedService, type ServiceModule } from "../../mesh";
import { startEventRelay, type NatsRelay } from "../common/nats/relay";
import { createCompaction } from "../common/outbox";
import { createClaims, type OrderClaims } from "./claims";
import { migrations } from "./migrations";
import { createRecovery, type Recovery } from "./recovery";
import { createSaga } from "./saga";
import { createOrdersService } from "./service";
import { createOrdersStore, type OrdersStore } from "./store";

/** Orders as composed, with the parts tests reach for. */
export interface ComposedOrders extends ComposedService {
  readonly orders: OrdersStore;
  readonly recovery: Recovery;
  readonly claims: OrderClaims;
}

/** Orders: the PlaceOrder saga over users, inventory and payments, with an event stream. */
export const orders: ServiceModule<undefined, ComposedOrders> = {
  migrations,
  durability: "full",
  async compose({ store, connect, topology, log }) {
    const ordersStore = createOrdersStore(store);
    const saga = createSaga({
      store: ordersStore,
      users: connect(UserServiceService, "users"),
      inventory: connect(InventoryServiceService, "inventory"),
      payments: connect(PaymentServiceService, "payments"),
      log,
    });
    // Two instances share the store: one at a time drives a given order (claims.ts).
    const claims = createClaims({ store: ordersStore, log });
    const recovery = createRecovery({ store: ordersStore, saga, claims, log });
    const compaction = createCompaction({ outbox: ordersStore.events, log });
    const stopping = new AbortController();
    let relay: NatsRelay | undefined;
    const handlers = createOrdersService({
      store: ordersStore,
      saga,
      claims,
      stopping: stopping.signal,
    });
    return {
      orders: ordersStore,
      recovery,
      claims,
      services: [served(OrderServiceService, handlers)],
      start() {
        // Held claims are renewed while their orders run, so they lapse only if this dies.
        claims.start();
        // Orders a crash left PENDING are finished now, and any that get stuck later, every
        // few seconds.
        recovery.start();
        // Events every consumer has acknowledged are deleted once past their retention.
        compaction.start();
        // With events.transport nats, the outbox is also published to JetStream.
        relay = startEventRelay(topology.events, {
          producer: "orders",
          outbox: ordersStore.events,
          codec: OrderEvent,
          log,
        });
      },
      // Event streams never end by themselves: ending them now (UNAVAILABLE, so consumers
      // resume elsewhere) keeps them from holding the drain up until the grace runs out.
      async beforeDrain() {
        stopping.abort();
      },
      async afterDrain() {
        await Promise.all([recovery.stop(), compaction.stop(), relay?.stop()]);
        claims.stop();
      },
    };
  },
};
