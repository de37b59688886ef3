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
  type StatusError,
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
import {
  isReservedAlready,
  type InventoryQueries,
  type InventoryStore,
  type ReservedLine,
  type StoredReservation,
} from "./store";

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

/**
 * Why `items` cannot all be reserved, read once a take failed: every sku that does not exist
 * (NOT_FOUND), else every line with too little available (FAILED_PRECONDITION), counting
 * stock as it was before this transaction took `taken` (the throw rolls those takes back).
 */
async function refusal(
  tx: InventoryQueries,
  items: readonly LineItem[],
  taken: readonly ReservedLine[],
): Promise<StatusError> {
  const stock = await tx.stockOf(items.map((item) => item.sku));
  const missing = items.filter((item) => !stock.has(item.sku)).map((item) => item.sku);
  if (missing.length > 0) return notFound(`no product with sku ${missing.join(", ")}`);
  // Skus are unique within a request (checkLineItems).
  const before = (sku: string): number =>
    stock.get(sku)!.available + (taken.find((line) => line.sku === sku)?.quantity ?? 0);
  const why = items
    .filter((item) => before(item.sku) < item.quantity)
    .map(
      (item) =>
        `not enough stock for ${item.sku}: ${before(item.sku)} available, ${item.quantity} requested`,
    );
  return failedPrecondition(why.join("; "));
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
      const time = now();
      const claim = { orderId, status: "RESERVED" as const, fingerprint, time };
      // Priced as the stock is taken, so that a later price change does not alter what the
      // order pays. The answer is the reservation as getReservation would read it: lines by sku.
      const reserved = (lines: readonly ReservedLine[]): Reservation => ({
        orderId,
        status: ReservationStatus.RESERVATION_STATUS_RESERVED,
        items: lines
          .map((line) => ({
            sku: line.sku,
            quantity: line.quantity,
            unitPrice: fromMicros(line.unitPriceMicros, line.currencyCode),
          }))
          .sort((x, y) => (x.sku < y.sku ? -1 : x.sku > y.sku ? 1 : 0)),
        createTime: time,
        updateTime: time,
      });
      // One transaction holding the write lock from its first statement: no other writer, in
      // this process or another, can change the stock between the checks and the updates.
      // First all at once, each take conditional on the stock and the price read before
      // (store.reserveAtOnce); if one fails (a sku unknown, short or repriced), step by step:
      // claim the order id, take each line's stock (the update checks it and reads the price)
      // until one is refused, and say why from the stock as it is. Any refusal throws, which
      // rolls all of it back.
      let refused: StatusError | undefined;
      const stepByStep = (): Promise<Reservation> =>
        store.write(async (tx) => {
          await tx.claimReservation(claim);
          const lines: ReservedLine[] = [];
          for (const { sku, quantity } of items) {
            const price = await tx.takeStock(sku, quantity);
            if (!price) throw (refused = await refusal(tx, items, lines));
            lines.push({ sku, quantity, ...price });
          }
          await tx.insertReservationLines(orderId, lines);
          return reserved(lines);
        });
      const reservation = await store
        .reserveAtOnce(claim, items)
        .then((lines) => (lines ? reserved(lines) : stepByStep()))
        .catch(async (err: unknown) => {
          // The order was reserved (or released) before: nothing of this write was kept, and
          // the first answers. So it does when this one was refused for stock, since a replay
          // of a reservation made while there was stock must get that reservation.
          if (!isReservedAlready(err) && err !== refused) throw err;
          const existing = await store.getReservation(orderId);
          if (existing) return replay(existing, fingerprint);
          throw err === refused ? err : new Error(`reservation for order ${orderId} vanished`);
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
          await tx.claimReservation({ orderId, status: "RELEASED", fingerprint: "", time: now() });
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
