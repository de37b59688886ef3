import type { Knex } from "knex";
import { OrderStatus, type Order } from "../../gen/shop/orders/v1/orders";
import {
  isUnexpectedChanges,
  isUniqueViolation,
  statement,
  type Param,
  type Store,
} from "../../mesh";
import { insertRows } from "../common/sql";
import { fromMicros } from "../common/money";
import { createOrdersOutbox, orderEventOf, type OrdersOutbox } from "./outbox";

/** One line of an order; priced once the stock is reserved. */
export interface OrderLine {
  sku: string;
  quantity: number;
  unitPriceMicros?: number;
  currencyCode?: string;
}

/** An order as the store keeps it. */
export interface OrderRecord {
  orderId: string;
  requestId: string;
  fingerprint: string;
  userId: string;
  status: OrderStatus;
  paymentMethod: string;
  items: OrderLine[];
  totalMicros?: number;
  currencyCode?: string;
  paymentId?: string;
  rejectionReason?: string;
  rejectionCode?: number;
  createTime: number;
  updateTime: number;
  /** Which process rolls it forward, until when (epoch ms); see claims.ts. */
  claim?: OrderClaim;
}

/** A process's hold on a PENDING order, which others respect until `until` has passed. */
export interface OrderClaim {
  owner: string;
  until: number;
}

/** How an order ended. */
export type Outcome =
  | {
      status: OrderStatus.ORDER_STATUS_CONFIRMED;
      paymentId: string;
      items: OrderLine[];
      totalMicros: number;
      currencyCode: string;
    }
  | {
      status: OrderStatus.ORDER_STATUS_REJECTED;
      code: number;
      reason: string;
      items?: OrderLine[];
    };

interface OrderRow {
  order_id: string;
  request_id: string;
  fingerprint: string;
  user_id: string;
  status: string;
  payment_method: string;
  total_micros: number | null;
  currency_code: string | null;
  payment_id: string | null;
  rejection_reason: string | null;
  rejection_code: number | null;
  create_time: number;
  update_time: number;
  claim_owner: string | null;
  claim_until: number | null;
}

interface ItemRow {
  order_id: string;
  position: number;
  sku: string;
  quantity: number;
  unit_price_micros: number | null;
  currency_code: string | null;
}

const STATUS_TEXT: Record<number, string> = {
  [OrderStatus.ORDER_STATUS_PENDING]: "PENDING",
  [OrderStatus.ORDER_STATUS_CONFIRMED]: "CONFIRMED",
  [OrderStatus.ORDER_STATUS_REJECTED]: "REJECTED",
};
const PENDING = STATUS_TEXT[OrderStatus.ORDER_STATUS_PENDING];
const STATUS_OF: Record<string, OrderStatus> = {
  PENDING: OrderStatus.ORDER_STATUS_PENDING,
  CONFIRMED: OrderStatus.ORDER_STATUS_CONFIRMED,
  REJECTED: OrderStatus.ORDER_STATUS_REJECTED,
};

/** The order as the API shows it. */
export function toOrder(record: OrderRecord): Order {
  const currency = record.currencyCode ?? "";
  return {
    orderId: record.orderId,
    requestId: record.requestId,
    userId: record.userId,
    status: record.status,
    items: record.items.map((line) => ({
      sku: line.sku,
      quantity: line.quantity,
      unitPrice:
        line.unitPriceMicros === undefined
          ? undefined
          : fromMicros(line.unitPriceMicros, line.currencyCode ?? currency),
    })),
    total: record.totalMicros === undefined ? undefined : fromMicros(record.totalMicros, currency),
    paymentId: record.paymentId ?? "",
    rejectionReason: record.rejectionReason ?? "",
    createTime: new Date(record.createTime),
    updateTime: new Date(record.updateTime),
  };
}

/** Queries of the orders and order_items tables, and the outbox their changes write to. */
export interface OrdersStore {
  /** The events that ending orders wrote, and their consumers. */
  readonly events: OrdersOutbox;
  /**
   * The order its user placed under `requestId`, or `candidate` inserted as PENDING (with its
   * claim, if it has one) if there is none: a request_id is unique per user (another user's
   * same key is another order).
   */
  findOrCreate(candidate: OrderRecord): Promise<{ order: OrderRecord; created: boolean }>;
  get(orderId: string): Promise<OrderRecord | undefined>;
  /** Newest first, optionally of one user, before `beforeId`. */
  list(
    userId: string | undefined,
    limit: number,
    beforeId: string | undefined,
  ): Promise<OrderRecord[]>;
  /**
   * Ends `order`, read or created PENDING, and in the same transaction writes the event
   * announcing it to the outbox; an order that already ended keeps its outcome and gets no
   * second event. Returns the order as stored.
   */
  finish(order: OrderRecord, outcome: Outcome, now: number): Promise<OrderRecord>;
  /** PENDING orders not updated since `before` that no one holds at `now`, oldest first. */
  pending(before: number, limit: number, now: number): Promise<OrderRecord[]>;
  /**
   * Takes a PENDING order for `claim.owner` until `claim.until`, unless another owner's claim
   * runs past `now`; resolves to whether it is now held. Taking it also marks it updated.
   */
  claim(orderId: string, claim: OrderClaim, now: number): Promise<boolean>;
  /** Lets go of an order `owner` holds (one that ended holds nothing already). */
  releaseClaim(orderId: string, owner: string): Promise<void>;
  /** Moves every claim `owner` holds on a PENDING order to `until`; resolves to how many. */
  renewClaims(owner: string, until: number): Promise<number>;
}

function recordOf(row: OrderRow, items: OrderLine[]): OrderRecord {
  return {
    orderId: row.order_id,
    requestId: row.request_id,
    fingerprint: row.fingerprint,
    userId: row.user_id,
    status: STATUS_OF[row.status] ?? OrderStatus.ORDER_STATUS_UNSPECIFIED,
    paymentMethod: row.payment_method,
    items,
    totalMicros: row.total_micros ?? undefined,
    currencyCode: row.currency_code ?? undefined,
    paymentId: row.payment_id ?? undefined,
    rejectionReason: row.rejection_reason ?? undefined,
    rejectionCode: row.rejection_code ?? undefined,
    createTime: row.create_time,
    updateTime: row.update_time,
    claim:
      row.claim_owner === null || row.claim_until === null
        ? undefined
        : { owner: row.claim_owner, until: Number(row.claim_until) },
  };
}

const ITEM_COLUMNS = [
  "order_id",
  "position",
  "sku",
  "quantity",
  "unit_price_micros",
  "currency_code",
];
const itemParams = (orderId: string, items: OrderLine[]): Param[] =>
  items.flatMap((line, position) => [
    orderId,
    position,
    line.sku,
    line.quantity,
    line.unitPriceMicros ?? null,
    line.currencyCode ?? null,
  ]);

// PlaceOrder's statements: prepared (mesh/store/statement.ts), as they run for every order.
// The PENDING order and its lines are deferred to the COMMIT, and nothing reads the insert's
// answer: a request_id its user has used is refused by the unique (user_id, request_id),
// which fails the write, and findOrCreate then reads the first. So creating an order is one
// trip to SQLite's thread pool: BEGIN, the order, its lines, COMMIT.
const INSERT_ORDER = insertRows("orders", [
  "order_id",
  "request_id",
  "fingerprint",
  "user_id",
  "status",
  "payment_method",
  "create_time",
  "update_time",
  "claim_owner",
  "claim_until",
])(1);
const isRequestUsed = (err: unknown): boolean =>
  isUniqueViolation(err, "orders", ["user_id", "request_id"]);
const INSERT_ITEMS = insertRows("order_items", ITEM_COLUMNS);
// The same lines, now priced.
const PRICE_ITEMS = insertRows(
  "order_items",
  ITEM_COLUMNS,
  "ON CONFLICT (order_id, position) DO UPDATE SET " +
    "unit_price_micros = excluded.unit_price_micros, currency_code = excluded.currency_code",
);
const ENDED = "update_time = ?, claim_owner = NULL, claim_until = NULL";
const CONFIRM = statement(
  `UPDATE orders SET status = '${STATUS_TEXT[OrderStatus.ORDER_STATUS_CONFIRMED]}', ` +
    `payment_id = ?, total_micros = ?, currency_code = ?, ${ENDED} ` +
    `WHERE order_id = ? AND status = '${PENDING}'`,
);
const REJECT = statement(
  `UPDATE orders SET status = '${STATUS_TEXT[OrderStatus.ORDER_STATUS_REJECTED]}', ` +
    `rejection_code = ?, rejection_reason = ?, ${ENDED} ` +
    `WHERE order_id = ? AND status = '${PENDING}'`,
);
// Ending an order changes its one row, or the write fails (Statement.defer).
const ENDS_ONE_ORDER = { changes: 1 };

/**
 * `order` (PENDING, as stored) as ending it with `outcome` at `now` stores it: the columns the
 * update sets, the lines priced if the outcome has them, and the rest as they were written
 * when it was created, since nothing else changes an order.
 */
function endedAs(order: OrderRecord, outcome: Outcome, now: number): OrderRecord {
  const base = { ...order, items: outcome.items ?? order.items, updateTime: now, claim: undefined };
  return outcome.status === OrderStatus.ORDER_STATUS_CONFIRMED
    ? {
        ...base,
        status: outcome.status,
        paymentId: outcome.paymentId,
        totalMicros: outcome.totalMicros,
        currencyCode: outcome.currencyCode,
      }
    : {
        ...base,
        status: outcome.status,
        rejectionCode: outcome.code,
        rejectionReason: outcome.reason,
      };
}

/**
 * The orders store. PlaceOrder writes twice, so each write is as few trips through the driver
 * as it can be (writes queue behind one another): the PENDING order is one insert, refused
 * when its user has used the request_id, plus its lines, both deferred (Statement.defer) and
 * run with BEGIN and the COMMIT in one trip; ending it is one update that must change the
 * order's row, the lines' prices and the event, all deferred: one trip too.
 */
export function createOrdersStore(store: Store): OrdersStore {
  const { db } = store;
  const events = createOrdersOutbox(store);
  const write = <T>(work: (trx: Knex) => Promise<T>): Promise<T> => store.write(work);
  const load = async (q: Knex, rows: OrderRow[]): Promise<OrderRecord[]> => {
    if (rows.length === 0) return [];
    const items = await q<ItemRow>("order_items")
      .whereIn(
        "order_id",
        rows.map((r) => r.order_id),
      )
      .orderBy(["order_id", "position"]);
    const byOrder = new Map<string, OrderLine[]>();
    for (const item of items) {
      const lines = byOrder.get(item.order_id) ?? [];
      lines.push({
        sku: item.sku,
        quantity: item.quantity,
        unitPriceMicros: item.unit_price_micros ?? undefined,
        currencyCode: item.currency_code ?? undefined,
      });
      byOrder.set(item.order_id, lines);
    }
    return rows.map((row) => recordOf(row, byOrder.get(row.order_id) ?? []));
  };

  const getIn = async (q: Knex, where: Partial<OrderRow>): Promise<OrderRecord | undefined> =>
    (await load(q, await q<OrderRow>("orders").where(where).limit(1)))[0];

  return {
    events,

    findOrCreate: (candidate) =>
      write(async (trx) => {
        await INSERT_ORDER.defer(trx, [
          candidate.orderId,
          candidate.requestId,
          candidate.fingerprint,
          candidate.userId,
          PENDING,
          candidate.paymentMethod,
          candidate.createTime,
          candidate.updateTime,
          candidate.claim?.owner ?? null,
          candidate.claim?.until ?? null,
        ]);
        await INSERT_ITEMS(candidate.items.length).defer(
          trx,
          itemParams(candidate.orderId, candidate.items),
        );
        return { order: { ...candidate, status: OrderStatus.ORDER_STATUS_PENDING }, created: true };
      }).catch(async (err: unknown) => {
        // The user has used this request_id: nothing of this write was kept, and the order
        // made then answers. Orders are never deleted, so it is there to read.
        if (!isRequestUsed(err)) throw err;
        const existing = await getIn(db, {
          user_id: candidate.userId,
          request_id: candidate.requestId,
        });
        if (!existing) throw new Error(`request_id ${candidate.requestId} vanished`);
        return { order: existing, created: false };
      }),

    get: (orderId) => getIn(db, { order_id: orderId }),

    async list(userId, limit, beforeId) {
      const query = db<OrderRow>("orders").orderBy("order_id", "desc").limit(limit);
      if (userId !== undefined) void query.where({ user_id: userId });
      if (beforeId !== undefined) void query.where("order_id", "<", beforeId);
      return load(db, await query);
    },

    async finish(order, outcome, now) {
      const { orderId } = order;
      const ended = endedAs(order, outcome, now);
      try {
        await write(async (trx) => {
          // Only while it is PENDING: an order ended by another run (a replay, recovery, the
          // other instance) changes no row, and the guard then fails the whole write, the
          // lines and the event with it. An ended order is no one's to drive: its claim goes
          // with the same update.
          await (outcome.status === OrderStatus.ORDER_STATUS_CONFIRMED
            ? CONFIRM.defer(
                trx,
                [outcome.paymentId, outcome.totalMicros, outcome.currencyCode, now, orderId],
                ENDS_ONE_ORDER,
              )
            : REJECT.defer(trx, [outcome.code, outcome.reason, now, orderId], ENDS_ONE_ORDER));
          // The same lines, now priced.
          if (outcome.items) {
            await PRICE_ITEMS(outcome.items.length).defer(trx, itemParams(orderId, outcome.items));
          }
          // Sequences are in commit order, which is what lets a consumer resume "after N"
          // without missing anything: the insert draws the next sequence inside this
          // transaction, and write transactions are serialized across every process sharing
          // the store (SQLite: BEGIN IMMEDIATE; PostgreSQL: the store's advisory write lock;
          // see mesh/store.ts), so no transaction holding a lower sequence can still commit
          // after this one. Without that lock, PostgreSQL transactions drawing from one
          // sequence commit in any order, and a reader could see N + 1 before N commits.
          await events.append(trx, orderEventOf(toOrder(ended), now), now);
        });
      } catch (err) {
        if (!isUnexpectedChanges(err)) throw err;
        // It had ended already: it keeps that outcome and gets no second event.
        const stored = await getIn(db, { order_id: orderId });
        if (!stored) throw new Error(`order ${orderId} vanished while finishing it`);
        return stored;
      }
      // Announced after the commit, so that a woken stream reads the event.
      events.announce();
      return ended;
    },

    async pending(before, limit, now) {
      const rows = await db<OrderRow>("orders")
        .where({ status: PENDING })
        .andWhere("update_time", "<", before)
        .andWhere((q) => void q.whereNull("claim_until").orWhere("claim_until", "<=", now))
        .orderBy("update_time")
        .limit(limit);
      return load(db, rows);
    },

    claim: (orderId, claim, now) =>
      write(async (trx) => {
        const taken = await trx<OrderRow>("orders")
          .where({ order_id: orderId, status: PENDING })
          .andWhere(
            (q) =>
              void q
                .whereNull("claim_owner")
                .orWhere("claim_owner", claim.owner)
                .orWhere("claim_until", "<=", now),
          )
          .update({ claim_owner: claim.owner, claim_until: claim.until, update_time: now });
        return taken > 0;
      }),

    async releaseClaim(orderId, owner) {
      await write((trx) =>
        trx<OrderRow>("orders")
          .where({ order_id: orderId, claim_owner: owner })
          .update({ claim_owner: null, claim_until: null }),
      );
    },

    renewClaims: (owner, until) =>
      write((trx) =>
        trx<OrderRow>("orders")
          .where({ claim_owner: owner, status: PENDING })
          .update({ claim_until: until }),
      ),
  };
}
