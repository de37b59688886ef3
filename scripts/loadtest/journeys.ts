import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { createPeer, type Topology } from "../../mesh";
import { type MeshIdentity } from "../../mesh/identity";
import type { LoadData } from "../scratch-mesh";

/** One request of a journey: the RPC's short name and the call itself. */
export interface Step {
  method: string;
  run(): Promise<unknown>;
}

/** The journeys `--journey` accepts. */
export const JOURNEYS = {
  "place-order": "PlaceOrder only: a new order each time (users, inventory, payments behind it)",
  mixed:
    "a shopper's mix: GetProduct 40%, ListProducts 20%, PlaceOrder 20%, GetOrder (of an order placed earlier) 20%",
} as const;
export type JourneyName = keyof typeof JOURNEYS;

/** Makes the next request of a journey; close() closes its channels. */
export interface Journey {
  readonly next: () => Step;
  readonly close: () => void;
}

// Orders remembered for GetOrder; older ones are forgotten, so memory stays bounded.
const REMEMBERED_ORDERS = 1_000;

/** Builds a journey against the mesh of `topology`, on users and products made for the run. */
export function createJourney(
  name: JourneyName,
  topology: Topology,
  data: LoadData,
  runId: string,
  random: () => number,
  identity: MeshIdentity,
): Journey {
  const { policy } = topology;
  const orders = createPeer(OrderServiceService, {
    target: topology.services.orders.target,
    policy,
    ...identity.dialOptions("orders"),
  });
  const inventory = createPeer(InventoryServiceService, {
    target: topology.services.inventory.target,
    policy,
    ...identity.dialOptions("inventory"),
  });
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const placed: string[] = [];
  let n = 0;

  const placeOrder: () => Step = () => ({
    method: "PlaceOrder",
    run: async () => {
      const { order } = await orders.placeOrder({
        requestId: `load-${runId}-${n++}`,
        userId: pick(data.userIds),
        items: [{ sku: pick(data.skus), quantity: 1 + Math.floor(random() * 3) }],
        paymentMethod: "tok_visa",
      });
      if (!order) return;
      if (placed.length < REMEMBERED_ORDERS) placed.push(order.orderId);
      else placed[n % REMEMBERED_ORDERS] = order.orderId;
    },
  });
  const mixed = (): Step => {
    const r = random();
    if (r < 0.4) {
      return { method: "GetProduct", run: () => inventory.getProduct({ sku: pick(data.skus) }) };
    }
    if (r < 0.6) {
      return {
        method: "ListProducts",
        run: () => inventory.listProducts({ pageSize: 20, pageToken: "" }),
      };
    }
    if (r < 0.8 || placed.length === 0) return placeOrder();
    return { method: "GetOrder", run: () => orders.getOrder({ orderId: pick(placed) }) };
  };
  return {
    next: name === "mixed" ? mixed : placeOrder,
    close: () => {
      orders.close();
      inventory.close();
    },
  };
}
