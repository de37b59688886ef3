import type { Knex } from "knex";
import { isUnexpectedChanges, isUniqueViolation, statement, type Store } from "../../mesh";
import { insertRows } from "../common/sql";
import {
  ReservationStatus,
  type Product,
  type Reservation,
} from "../../gen/shop/inventory/v1/inventory";
import type { LineItem, Money } from "../../gen/shop/common/v1/common";
import { fromMicros, toMicros } from "../common/money";

interface ProductRow {
  sku: string;
  name: string;
  description: string;
  price_micros: number;
  currency_code: string;
  available: number;
  reserved: number;
  create_time: number;
}

type StatusText = "RESERVED" | "RELEASED";

interface ReservationRow {
  order_id: string;
  status: StatusText;
  fingerprint: string;
  create_time: number;
  update_time: number;
}

interface ReservationItemRow {
  order_id: string;
  sku: string;
  quantity: number;
  unit_price_micros: number;
  currency_code: string;
}

const STATUS_OF: Record<StatusText, ReservationStatus> = {
  RESERVED: ReservationStatus.RESERVATION_STATUS_RESERVED,
  RELEASED: ReservationStatus.RESERVATION_STATUS_RELEASED,
};

const toProduct = (row: ProductRow): Product => ({
  sku: row.sku,
  name: row.name,
  description: row.description,
  price: fromMicros(row.price_micros, row.currency_code),
  available: row.available,
  reserved: row.reserved,
  createTime: new Date(row.create_time),
});

/** A product to insert: a Product whose price is set and checked. */
export type NewProduct = Product & { price: Money; createTime: Date };

/** What a reservation needs to know about a product: its stock and current price. */
export interface Stock {
  sku: string;
  available: number;
  unitPriceMicros: number;
  currencyCode: string;
}

/** A reservation with the fingerprint of the items it was requested with. */
export interface StoredReservation {
  reservation: Reservation;
  fingerprint: string;
}

/** A reservation to insert, without its lines; a release recorded before any reservation has none. */
export interface NewReservation {
  orderId: string;
  status: "RESERVED" | "RELEASED";
  fingerprint: string;
  time: Date;
}

/** A line of a reservation, priced when the stock was taken. */
export interface ReservedLine {
  sku: string;
  quantity: number;
  unitPriceMicros: number;
  currencyCode: string;
}

/** What a product costs, read as its stock is taken. */
export interface Price {
  unitPriceMicros: number;
  currencyCode: string;
}

/** Queries of the inventory tables, on the store's connection or inside a transaction. */
export interface InventoryQueries {
  /** Inserts a product; resolves false when the sku is taken. */
  insertProduct(product: NewProduct): Promise<boolean>;
  getProduct(sku: string): Promise<Product | undefined>;
  /** Products by sku, after `afterSku`. */
  listProducts(limit: number, afterSku: string | undefined): Promise<Product[]>;
  /** Stock of those of `skus` that exist, by sku. */
  stockOf(skus: readonly string[]): Promise<Map<string, Stock>>;
  /**
   * Moves stock from available to reserved and resolves to the product's price; undefined
   * when there is no such product or too little is available.
   */
  takeStock(sku: string, quantity: number): Promise<Price | undefined>;
  /** Moves stock from reserved back to available; resolves false when too little is reserved. */
  returnStock(sku: string, quantity: number): Promise<boolean>;
  getReservation(orderId: string): Promise<StoredReservation | undefined>;
  /**
   * Inserts a reservation (or a release) for an order that has none. When the order has one,
   * the write fails with {@link isReservedAlready}: at its COMMIT on SQLite (the insert waits
   * for it, or for the first statement that reads reservations), at once on PostgreSQL.
   */
  claimReservation(reservation: NewReservation): Promise<void>;
  insertReservationLines(orderId: string, lines: readonly ReservedLine[]): Promise<void>;
  markReleased(orderId: string, time: Date): Promise<void>;
}

/** The inventory's store: queries, and transactions that run several of them atomically. */
export interface InventoryStore extends InventoryQueries {
  /** Runs `work` in one write transaction (BEGIN IMMEDIATE); a throw rolls all of it back. */
  write<T>(work: (tx: InventoryQueries) => Promise<T>): Promise<T>;
  /**
   * Reserves `items` for the reservation's order in one write that awaits no answer (on
   * SQLite one trip: BEGIN, the claim, each take of stock at the price last read for its
   * sku, the lines at those prices, COMMIT), reading first the prices of skus it has not
   * seen. Resolves to the lines; undefined when a sku is unknown, short of stock or priced
   * otherwise now (a write that takes the stock step by step then finds out which and why),
   * and nothing was kept. Fails with {@link isReservedAlready} when the order has a
   * reservation or a release.
   */
  reserveAtOnce(
    reservation: NewReservation,
    items: readonly LineItem[],
  ): Promise<ReservedLine[] | undefined>;
}

/** The inventory's queries on a store opened with ./migrations. */
export function createInventoryStore(store: Store): InventoryStore {
  const queries = queriesOn(store.db);
  const prices = new PriceBook(MAX_PRICES);
  return {
    ...queries,
    // Inside `work`, every query must go through `tx`: the pool has one connection, which the
    // transaction holds, so a query on `store.db` would wait for it until knex gives up.
    write: (work) => store.write((trx) => work(queriesOn(trx))),

    async reserveAtOnce(reservation, items) {
      const unseen = items.filter(({ sku }) => !prices.get(sku)).map(({ sku }) => sku);
      if (unseen.length > 0) {
        for (const stock of (await queries.stockOf(unseen)).values()) {
          prices.remember(stock.sku, stock);
        }
      }
      const lines: ReservedLine[] = [];
      for (const { sku, quantity } of items) {
        const price = prices.get(sku);
        if (!price) return undefined;
        lines.push({ sku, quantity, ...price });
      }
      try {
        await store.write(async (trx) => {
          const tx = queriesOn(trx);
          await tx.claimReservation(reservation);
          for (const { sku, quantity, unitPriceMicros, currencyCode } of lines) {
            await TAKE_STOCK_AT_PRICE.defer(
              trx,
              [quantity, quantity, sku, quantity, unitPriceMicros, currencyCode],
              TAKES_ONE_ROW,
            );
          }
          await tx.insertReservationLines(reservation.orderId, lines);
        });
      } catch (err) {
        if (!isUnexpectedChanges(err)) throw err;
        // Short of stock, or priced otherwise: read again next time.
        for (const { sku } of items) prices.forget(sku);
        return undefined;
      }
      return lines;
    },
  };
}

/** A write failed because its order already has a reservation or a release (claimReservation). */
export const isReservedAlready = (err: unknown): boolean =>
  isUniqueViolation(err, "reservations", "order_id");

// ReserveStock's statements, on every order's path: prepared (mesh/store/statement.ts). The
// claim is deferred and nothing reads its answer: an order reserved before is refused by the
// unique order id, which fails the write (service.ts then answers with the first). So a
// reservation of one line is three trips to SQLite's thread pool: BEGIN, the take (whose
// answer is awaited), then the claim, the lines and COMMIT together.
const CLAIM_RESERVATION = insertRows("reservations", [
  "order_id",
  "status",
  "fingerprint",
  "create_time",
  "update_time",
])(1);
// Moves stock from available to reserved; the WHERE clause checks the stock: a product with
// too little updates nothing.
const TAKE =
  "UPDATE products SET available = available - ?, reserved = reserved + ? " +
  "WHERE sku = ? AND available >= ?";
const TAKE_STOCK = statement<Pick<ProductRow, "price_micros" | "currency_code">>(
  `${TAKE} RETURNING price_micros, currency_code`,
);
// The same take, deferred, at the price the reservation read: it must change the product's
// row (Statement.defer's `changes`), else there is no such product, too little of it, or
// its price is another now, and the write fails.
const TAKE_STOCK_AT_PRICE = statement(`${TAKE} AND price_micros = ? AND currency_code = ?`);
const TAKES_ONE_ROW = { changes: 1 };
// Skus whose price a process keeps (a Map's worth of memory: about 1 MB).
const MAX_PRICES = 10_000;

/**
 * Prices as last read, by sku, for reservations taken in one trip: a take checks the price it
 * was given, so one that changed since fails the take and is read again; none is ever
 * charged stale. At most `max` skus, the oldest read forgotten first.
 */
class PriceBook {
  private readonly prices = new Map<string, Price>();

  constructor(private readonly max: number) {}

  get(sku: string): Price | undefined {
    return this.prices.get(sku);
  }

  remember(sku: string, { unitPriceMicros, currencyCode }: Price): void {
    this.prices.delete(sku);
    if (this.prices.size >= this.max) this.prices.delete(this.prices.keys().next().value!);
    this.prices.set(sku, { unitPriceMicros, currencyCode });
  }

  forget(sku: string): void {
    this.prices.delete(sku);
  }
}

const INSERT_LINES = insertRows("reservation_items", [
  "order_id",
  "sku",
  "quantity",
  "unit_price_micros",
  "currency_code",
]);

function queriesOn(db: Knex): InventoryQueries {
  // `delta` moves from reserved to available (negative: the other way). The WHERE clause
  // guards the side that shrinks, so a miscounted caller updates nothing (and learns it)
  // rather than hitting the CHECK constraint.
  const moveStock = async (sku: string, delta: number, shrinking: "available" | "reserved") => {
    const changed = await db<ProductRow>("products")
      .where({ sku })
      .andWhere(shrinking, ">=", Math.abs(delta))
      .update({
        available: db.raw("available + ?", [delta]),
        reserved: db.raw("reserved - ?", [delta]),
      });
    return changed === 1;
  };

  return {
    async insertProduct(product) {
      const rows = await db<ProductRow>("products")
        .insert({
          sku: product.sku,
          name: product.name,
          description: product.description,
          price_micros: toMicros(product.price),
          currency_code: product.price.currencyCode,
          available: product.available,
          reserved: product.reserved,
          create_time: product.createTime.getTime(),
        })
        .onConflict("sku")
        .ignore()
        // As in users/store.ts: RETURNING yields no row when the conflict ignored the insert.
        .returning("sku");
      return rows.length === 1;
    },

    async getProduct(sku) {
      const row = await db<ProductRow>("products").where({ sku }).first();
      return row && toProduct(row);
    },

    async listProducts(limit, afterSku) {
      const query = db<ProductRow>("products").orderBy("sku").limit(limit);
      if (afterSku !== undefined) void query.where("sku", ">", afterSku);
      return (await query).map(toProduct);
    },

    async stockOf(skus) {
      const rows = await db<ProductRow>("products").whereIn("sku", skus);
      return new Map(
        rows.map((row) => [
          row.sku,
          {
            sku: row.sku,
            available: row.available,
            unitPriceMicros: row.price_micros,
            currencyCode: row.currency_code,
          },
        ]),
      );
    },

    async takeStock(sku, quantity) {
      const row = await TAKE_STOCK.first(db, [quantity, quantity, sku, quantity]);
      return row && { unitPriceMicros: row.price_micros, currencyCode: row.currency_code };
    },
    returnStock: (sku, quantity) => moveStock(sku, quantity, "reserved"),

    async getReservation(orderId) {
      const row = await db<ReservationRow>("reservations").where({ order_id: orderId }).first();
      if (!row) return undefined;
      const items = await db<ReservationItemRow>("reservation_items")
        .where({ order_id: orderId })
        .orderBy("sku");
      return {
        fingerprint: row.fingerprint,
        reservation: {
          orderId: row.order_id,
          status: STATUS_OF[row.status],
          items: items.map((item) => ({
            sku: item.sku,
            quantity: item.quantity,
            unitPrice: fromMicros(item.unit_price_micros, item.currency_code),
          })),
          createTime: new Date(row.create_time),
          updateTime: new Date(row.update_time),
        },
      };
    },

    async claimReservation(reservation) {
      const time = reservation.time.getTime();
      await CLAIM_RESERVATION.defer(db, [
        reservation.orderId,
        reservation.status,
        reservation.fingerprint,
        time,
        time,
      ]);
    },

    async insertReservationLines(orderId, lines) {
      if (lines.length === 0) return;
      await INSERT_LINES(lines.length).defer(
        db,
        lines.flatMap((line) => [
          orderId,
          line.sku,
          line.quantity,
          line.unitPriceMicros,
          line.currencyCode,
        ]),
      );
    },

    async markReleased(orderId, time) {
      await db<ReservationRow>("reservations")
        .where({ order_id: orderId })
        .update({ status: "RELEASED", update_time: time.getTime() });
    },
  };
}
