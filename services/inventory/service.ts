import {
  alreadyExists,
  decodePageToken,
  encodePageToken,
  failedPrecondition,
  invalidArgument,
  notFound,
  pageSize,
  Validator,
  type ServiceHandlers,
} from "../../mesh";
import type { LineItem } from "../../gen/shop/common/v1/common";
import {
  ReservationStatus,
  type InventoryServiceService,
  type Reservation,
} from "../../gen/shop/inventory/v1/inventory";
import { checkLineItems } from "../common/line-items";
import { fromMicros, toMicros } from "../common/money";
import { checkCreateProduct, checkOrderId, checkSku } from "./requests";
import type { InventoryQueries, InventoryStore, StoredReservation } from "./store";

/** Dependencies of the inventory service. */
export interface InventoryServiceDeps {
  store: InventoryStore;
  /** Defaults to the system clock. */
  now?: () => Date;
}

/**
 * What a replay must repeat: the items as sorted "sku:quantity" pairs. Skus cannot contain
 * ":" or "," (SKU_RULE), so different item lists never share a fingerprint.
 */
const fingerprintOf = (items: readonly LineItem[]): string =>
  items
    .map((item) => `${item.sku}:${item.quantity}`)
    .sort()
    .join(",");

/** The answer to a ReserveStock for an order that already has a reservation. */
function replay(existing: StoredReservation, fingerprint: string): Reservation {
  const { reservation } = existing;
  if (reservation.status === ReservationStatus.RESERVATION_STATUS_RELEASED) {
    throw failedPrecondition(`reservation for order ${reservation.orderId} was released`);
  }
  if (existing.fingerprint !== fingerprint) {
    throw alreadyExists(`order ${reservation.orderId} already has a reservation with other items`);
  }
  return reservation;
}

/** Reads back a reservation just written in the same transaction. */
async function reread(tx: InventoryQueries, orderId: string): Promise<Reservation> {
  const stored = await tx.getReservation(orderId);
  if (!stored) throw new Error(`reservation for order ${orderId} vanished inside its transaction`);
  return stored.reservation;
}

/** The InventoryService handlers. */
export function createInventoryService(
  deps: InventoryServiceDeps,
): ServiceHandlers<typeof InventoryServiceService> {
  const { store } = deps;
  const now = deps.now ?? (() => new Date());

  return {
    async createProduct(request) {
      const v = new Validator();
      checkCreateProduct(v, request);
      v.done();

      const price = request.price!; // checkMoney made sure it is set
      const product = {
        sku: request.sku,
        name: request.name,
        description: request.description,
        // Normalised through micros, so that the answer equals what GetProduct will read.
        price: fromMicros(toMicros(price), price.currencyCode),
        available: request.initialStock,
        reserved: 0,
        createTime: now(),
      };
      const inserted = await store.insertProduct(product);
      if (!inserted) throw alreadyExists(`a product with sku ${request.sku} already exists`);
      return { product };
    },

    async getProduct(request) {
      const v = new Validator();
      checkSku(v, request.sku);
      v.done();

      const product = await store.getProduct(request.sku);
      if (!product) throw notFound(`product ${request.sku} not found`);
      return { product };
    },

    async listProducts(request) {
      const v = new Validator();
      const size = pageSize(v, request.pageSize);
      v.done();
      const after = decodePageToken(request.pageToken)?.[0];
      if (after !== undefined && typeof after !== "string") {
        throw invalidArgument("page_token", "is not a token this method returned");
      }

      const products = await store.listProducts(size + 1, after);
      const more = products.length > size;
      if (more) products.pop();
      return {
        products,
        nextPageToken: more ? encodePageToken([products[products.length - 1].sku]) : "",
      };
    },

    async reserveStock(request) {
      const v = new Validator();
      checkOrderId(v, request.orderId);
      checkLineItems(v, request.items);
      v.done();

      const { orderId, items } = request;
      const fingerprint = fingerprintOf(items);
      // One transaction holding the write lock from its first read: no other writer, in this
      // process or another, can change the stock between the checks and the updates.
      const reservation = await store.write(async (tx) => {
        const existing = await tx.getReservation(orderId);
        if (existing) return replay(existing, fingerprint);

        const stock = await tx.stockOf(items.map((item) => item.sku));
        const missing = items.filter((item) => !stock.has(item.sku)).map((item) => item.sku);
        if (missing.length > 0) throw notFound(`no product with sku ${missing.join(", ")}`);
        const short = items.filter((item) => stock.get(item.sku)!.available < item.quantity);
        if (short.length > 0) {
          const why = short.map(
            (item) =>
              `not enough stock for ${item.sku}: ${stock.get(item.sku)!.available} available, ${item.quantity} requested`,
          );
          throw failedPrecondition(why.join("; "));
        }

        for (const item of items) {
          // Cannot fail after the checks above; if it does, the throw rolls everything back.
          if (!(await tx.takeStock(item.sku, item.quantity))) {
            throw new Error(`stock of ${item.sku} changed inside a write transaction`);
          }
        }
        const time = now();
        // Priced now, so that a later price change does not alter what the order pays.
        const priced = items.map(({ sku, quantity }) => {
          const { unitPriceMicros, currencyCode } = stock.get(sku)!;
          return { sku, quantity, unitPriceMicros, currencyCode };
        });
        await tx.insertReservation({
          orderId,
          status: "RESERVED",
          fingerprint,
          items: priced,
          time,
        });
        // As getReservation would read it back, without reading it back: lines by sku.
        return {
          orderId,
          status: ReservationStatus.RESERVATION_STATUS_RESERVED,
          items: priced
            .map((line) => ({
              sku: line.sku,
              quantity: line.quantity,
              unitPrice: fromMicros(line.unitPriceMicros, line.currencyCode),
            }))
            .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0)),
          createTime: time,
          updateTime: time,
        };
      });
      return { reservation };
    },

    async releaseStock(request) {
      const v = new Validator();
      checkOrderId(v, request.orderId);
      v.done();

      const { orderId } = request;
      const reservation = await store.write(async (tx) => {
        const existing = await tx.getReservation(orderId);
        if (!existing) {
          // A tombstone: the release overtook its reservation (a timed-out ReserveStock still
          // in flight), and the late reservation must then take nothing.
          await tx.insertReservation({
            orderId,
            status: "RELEASED",
            fingerprint: "",
            items: [],
            time: now(),
          });
          return reread(tx, orderId);
        }
        if (existing.reservation.status === ReservationStatus.RESERVATION_STATUS_RELEASED) {
          return existing.reservation;
        }
        for (const item of existing.reservation.items) {
          if (!(await tx.returnStock(item.sku, item.quantity))) {
            throw new Error(`reserved stock of ${item.sku} is less than order ${orderId} holds`);
          }
        }
        await tx.markReleased(orderId, now());
        return reread(tx, orderId);
      });
      return { reservation };
    },

    async getReservation(request) {
      const v = new Validator();
      checkOrderId(v, request.orderId);
      v.done();

      const stored = await store.getReservation(request.orderId);
      if (!stored) throw notFound(`no reservation for order ${request.orderId}`);
      return { reservation: stored.reservation };
    },
  };
}
