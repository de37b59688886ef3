import { hash } from "node:crypto";
import { status } from "@grpc/grpc-js";
import {
  OrderStatus,
  type OrderServiceService,
  type PlaceOrderRequest,
} from "../../gen/shop/orders/v1/orders";
import {
  alreadyExists,
  decodePageToken,
  encodePageToken,
  isGrpcError,
  newId,
  notFound,
  actingUser,
  pageSize,
  silentLogger,
  scopeOf,
  StatusError,
  visibleIn,
  Validator,
  type CallContext,
  type ServiceHandlers,
} from "../../mesh";
import { loadDescriptors } from "../../mesh/config";
import { createClaims, type OrderClaims } from "./claims";
import { checkLineItems } from "../common/line-items";
import { createEventHandlers, type EventHandlersDeps } from "./event-handlers";
import type { Saga } from "./saga";
import { toOrder, type OrderRecord, type OrdersStore } from "./store";

/** Dependencies of the orders service; the event stream's options are in EventHandlersDeps. */
export interface OrdersServiceDeps extends EventHandlersDeps {
  store: OrdersStore;
  saga: Saga;
  /**
   * Which instance drives which PENDING order (claims.ts). Defaults to claims of this process
   * alone, never renewed: enough for a test with one instance, not for two.
   */
  claims?: OrderClaims;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** A limit the contract must state; its absence is a broken contract, not a default. */
function requiredLimit(limit: number | undefined): number {
  if (limit === undefined)
    throw new Error("PlaceOrderRequest.request_id: the contract states no max_length");
  return limit;
}

// The idempotency key's length, from the contract (PlaceOrderRequest.request_id's rules), as
// the REST gateway's Idempotency-Key header checks it.
const MAX_REQUEST_ID = requiredLimit(
  loadDescriptors().fieldRulesOf("shop.orders.v1.PlaceOrderRequest", "request_id").maxLength,
);

// How often a replay of an order another instance is driving looks again.
const TURN_POLL_MS = 100;
const MAX_ID = 64;
const DEFAULT_PAYMENT_METHOD = "tok_visa";
const PAYMENT_METHODS = [DEFAULT_PAYMENT_METHOD, "tok_chargeDeclined"];

/** What a request asks for, independent of item order: equal for a true replay. */
function fingerprint(request: PlaceOrderRequest, paymentMethod: string): string {
  // By code unit: for skus (lower-case letters, digits and dashes) the same order as
  // localeCompare, without loading ICU's collation into the process for every order.
  const items = [...request.items]
    .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0))
    .map((i) => [i.sku, i.quantity]);
  return hash("sha256", JSON.stringify([request.userId, items, paymentMethod]), "base64url");
}

/** An ended order as the caller sees it: the order, or the error it was rejected with. */
function outcome(order: OrderRecord): { order: ReturnType<typeof toOrder> } {
  if (order.status === OrderStatus.ORDER_STATUS_REJECTED) {
    throw new StatusError(
      order.rejectionCode ?? status.FAILED_PRECONDITION,
      order.rejectionReason ?? "rejected",
    );
  }
  return { order: toOrder(order) };
}

/** The OrderService handlers. */
export function createOrdersService(
  deps: OrdersServiceDeps,
): ServiceHandlers<typeof OrderServiceService> {
  const { store, saga } = deps;
  const now = deps.now ?? Date.now;
  const claims = deps.claims ?? createClaims({ store, log: silentLogger(), now });

  /**
   * A replay of an order that is still PENDING: waits while another instance drives it (a
   * client retrying on this instance while the first attempt still runs on the other), and
   * takes it over when it is free or its holder's claim lapsed (that instance died). Resolves
   * to the ended order, or undefined once this process holds it.
   */
  async function waitForTurn(orderId: string, ctx: CallContext): Promise<OrderRecord | undefined> {
    for (;;) {
      const current = await store.get(orderId);
      if (!current) throw new Error(`order ${orderId} vanished`);
      if (current.status !== OrderStatus.ORDER_STATUS_PENDING) return current;
      if (!claims.heldElsewhere(current.claim) && (await claims.take(orderId))) return undefined;
      if (ctx.deadline - Date.now() < 2 * TURN_POLL_MS || ctx.signal.aborted) {
        throw new StatusError(
          status.UNAVAILABLE,
          `order ${orderId} is being placed by another instance; retry with the same request_id`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, TURN_POLL_MS));
    }
  }

  return {
    ...createEventHandlers(deps),

    async placeOrder(request, ctx) {
      const scope = scopeOf(ctx);
      const v = new Validator();
      v.string(request.requestId, "request_id", { max: MAX_REQUEST_ID });
      // With a bearer token it may be left empty: the order is the token's user's.
      v.string(request.userId, "user_id", { max: MAX_ID, required: scope === null });
      checkLineItems(v, request.items);
      if (request.paymentMethod !== "" && !PAYMENT_METHODS.includes(request.paymentMethod)) {
        v.fail("payment_method", `must be one of ${PAYMENT_METHODS.join(", ")}`);
      }
      v.done();
      const userId = actingUser(scope, request.userId, "user_id");

      const paymentMethod = request.paymentMethod || DEFAULT_PAYMENT_METHOD;
      const asked = fingerprint({ ...request, userId }, paymentMethod);
      const at = now();
      const { order, created } = await store.findOrCreate({
        orderId: newId("ord"),
        requestId: request.requestId,
        fingerprint: asked,
        userId,
        status: OrderStatus.ORDER_STATUS_PENDING,
        paymentMethod,
        items: request.items.map(({ sku, quantity }) => ({ sku, quantity })),
        createTime: at,
        updateTime: at,
        // A new order is this instance's to drive from the start: no second write to claim it.
        claim: claims.fresh(),
      });
      if (order.fingerprint !== asked) {
        throw alreadyExists(
          `request_id ${request.requestId} was already used for a different order`,
        );
      }
      if (order.status !== OrderStatus.ORDER_STATUS_PENDING) return outcome(order);
      if (created) claims.holding(order.orderId);
      else {
        const ended = await waitForTurn(order.orderId, ctx);
        if (ended) return outcome(ended);
      }

      let finished: OrderRecord | undefined;
      try {
        finished = await saga.run(order, ctx);
        return outcome(finished);
      } catch (err) {
        if (err instanceof StatusError || !isGrpcError(err)) throw err;
        // A step could not be completed now. The order stays PENDING: a retry with the same
        // request_id, or recovery, finishes it without repeating any effect.
        throw new StatusError(
          err.code === status.DEADLINE_EXCEEDED ? status.DEADLINE_EXCEEDED : status.UNAVAILABLE,
          `order ${order.orderId} is pending (${err.details}); retry with the same request_id`,
        );
      } finally {
        // Ending the order cleared its claim in the same write; a pending one is let go now,
        // so that a retry on the other instance need not wait for the claim to lapse.
        await claims.release(order.orderId, finished === undefined);
      }
    },

    async getOrder(request, ctx) {
      const scope = scopeOf(ctx);
      const v = new Validator();
      v.string(request.orderId, "order_id", { max: MAX_ID });
      v.done();

      const order = await store.get(request.orderId);
      // Another user's order answers exactly as a missing one: nothing tells them apart.
      if (!order || !visibleIn(scope, order.userId))
        throw notFound(`order ${request.orderId} not found`);
      return { order: toOrder(order) };
    },

    async listOrders(request, ctx) {
      const scope = scopeOf(ctx);
      const v = new Validator();
      v.string(request.userId, "user_id", { max: MAX_ID, required: false });
      const size = pageSize(v, request.pageSize);
      v.done();
      const userId = actingUser(scope, request.userId, "user_id");
      const before = decodePageToken(request.pageToken, userId);

      const orders = await store.list(
        userId || undefined,
        size + 1,
        before?.[0] as string | undefined,
      );
      const more = orders.length > size;
      if (more) orders.pop();
      return {
        orders: orders.map(toOrder),
        nextPageToken: more ? encodePageToken([orders[orders.length - 1].orderId], userId) : "",
      };
    },
  };
}
