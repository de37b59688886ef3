import knex, { type Knex } from "knex";

/** One invariant and whether the stores keep it. */
export interface InvariantResult {
  name: string;
  holds: boolean;
  /** What was compared, or the first few violations. */
  detail: string;
}

/** What the run knows independently of the stores. */
export interface Expectations {
  /** request_id → order_id of every order the client saw CONFIRMED. */
  acknowledged: ReadonlyMap<string, string>;
  /** sku → stock the product was created with. */
  initialStock: ReadonlyMap<string, number>;
}

/** The three stores the invariants span. */
export interface StoreFiles {
  orders: string;
  inventory: string;
  payments: string;
  /** Checked when the notifications service runs. */
  notifications?: string;
}

const open = (filename: string): Knex =>
  knex({
    client: "sqlite3",
    connection: { filename },
    useNullAsDefault: true,
    pool: { min: 1, max: 1 },
  });

const sample = (items: string[]): string =>
  items.length === 0
    ? ""
    : `${items.slice(0, 3).join("; ")}${items.length > 3 ? ` (+${items.length - 3} more)` : ""}`;

const check = (name: string, violations: string[], ok: string): InvariantResult => ({
  name,
  holds: violations.length === 0,
  detail: violations.length === 0 ? ok : sample(violations),
});

interface OrderRow {
  order_id: string;
  request_id: string;
  status: string;
  total_micros: number | null;
}

/**
 * Reads the orders, inventory and payments stores (after the load, once nothing is pending)
 * and checks that nothing was lost or duplicated: orders, charges, stock, reservations, money.
 */
export async function checkInvariants(
  files: StoreFiles,
  expected: Expectations,
): Promise<InvariantResult[]> {
  const [ordersDb, inventoryDb, paymentsDb] = [
    open(files.orders),
    open(files.inventory),
    open(files.payments),
  ];
  try {
    const orders = await ordersDb<OrderRow>("orders").select(
      "order_id",
      "request_id",
      "status",
      "total_micros",
    );
    const items = await ordersDb("order_items").select("order_id", "sku", "quantity");
    const payments = await paymentsDb("payments").select(
      "payment_id",
      "order_id",
      "status",
      "amount_micros",
    );
    const products = await inventoryDb("products").select("sku", "available", "reserved");
    const reservations = await inventoryDb("reservations").select("order_id", "status");

    const byId = new Map(orders.map((o) => [o.order_id, o]));
    const byRequest = new Map<string, OrderRow[]>();
    for (const o of orders)
      byRequest.set(o.request_id, [...(byRequest.get(o.request_id) ?? []), o]);
    const confirmed = orders.filter((o) => o.status === "CONFIRMED");
    const captured = payments.filter((p: { status: string }) => p.status === "CAPTURED") as {
      payment_id: string;
      order_id: string;
      amount_micros: number;
    }[];
    const capturedByOrder = new Map<string, number[]>();
    for (const p of captured)
      capturedByOrder.set(p.order_id, [
        ...(capturedByOrder.get(p.order_id) ?? []),
        p.amount_micros,
      ]);

    const results: InvariantResult[] = [];

    const lost: string[] = [];
    for (const [requestId, orderId] of expected.acknowledged) {
      const found = byRequest.get(requestId) ?? [];
      if (found.length !== 1) lost.push(`${requestId}: ${found.length} orders`);
      else if (found[0].order_id !== orderId || found[0].status !== "CONFIRMED") {
        lost.push(
          `${requestId}: ${found[0].order_id} is ${found[0].status}, acknowledged as ${orderId}`,
        );
      }
    }
    results.push(
      check(
        "every acknowledged order is present exactly once, CONFIRMED",
        lost,
        `${expected.acknowledged.size} acknowledged orders found`,
      ),
    );

    const duplicated = [...byRequest]
      .filter(([, list]) => list.length > 1)
      .map(([r, list]) => `${r}: ${list.length}`);
    results.push(
      check(
        "no request_id made two orders",
        duplicated,
        `${orders.length} orders, ${byRequest.size} request ids`,
      ),
    );

    const pending = orders.filter((o) => o.status === "PENDING").map((o) => o.order_id);
    results.push(check("no order is left PENDING", pending, "none pending"));

    const charges: string[] = [];
    for (const o of confirmed) {
      const amounts = capturedByOrder.get(o.order_id) ?? [];
      const wanted = (o.total_micros ?? 0) > 0 ? 1 : 0;
      if (amounts.length !== wanted) charges.push(`${o.order_id}: ${amounts.length} captures`);
      else if (wanted === 1 && amounts[0] !== o.total_micros)
        charges.push(`${o.order_id}: charged ${amounts[0]}, total ${o.total_micros}`);
    }
    for (const p of captured) {
      const order = byId.get(p.order_id);
      if (!order) charges.push(`${p.payment_id}: captured for unknown order ${p.order_id}`);
      else if (order.status !== "CONFIRMED")
        charges.push(`${p.payment_id}: captured for ${order.status} order ${p.order_id}`);
    }
    results.push(
      check(
        "one charge per confirmed order, none for rejected ones",
        charges,
        `${captured.length} captures for ${confirmed.length} confirmed orders`,
      ),
    );

    const confirmedIds = new Set(confirmed.map((o) => o.order_id));
    const sold = new Map<string, number>();
    for (const item of items as { order_id: string; sku: string; quantity: number }[]) {
      if (confirmedIds.has(item.order_id))
        sold.set(item.sku, (sold.get(item.sku) ?? 0) + item.quantity);
    }
    const stock: string[] = [];
    for (const p of products as { sku: string; available: number; reserved: number }[]) {
      const initial = expected.initialStock.get(p.sku);
      if (initial === undefined) continue;
      const out = sold.get(p.sku) ?? 0;
      if (p.available + out !== initial)
        stock.push(`${p.sku}: ${p.available} left + ${out} sold ≠ ${initial}`);
      if (p.reserved !== out) stock.push(`${p.sku}: ${p.reserved} reserved ≠ ${out} sold`);
    }
    results.push(
      check(
        "initial stock = remaining stock + confirmed quantities",
        stock,
        `${expected.initialStock.size} products balance`,
      ),
    );

    const dangling: string[] = [];
    const reservedIds = new Set<string>();
    for (const r of reservations as { order_id: string; status: string }[]) {
      if (r.status !== "RESERVED") continue;
      reservedIds.add(r.order_id);
      if (!confirmedIds.has(r.order_id))
        dangling.push(
          `${r.order_id}: RESERVED, order ${byId.get(r.order_id)?.status ?? "unknown"}`,
        );
    }
    for (const id of confirmedIds)
      if (!reservedIds.has(id)) dangling.push(`${id}: CONFIRMED without a reservation`);
    results.push(
      check(
        "no reservation left dangling",
        dangling,
        `${reservedIds.size} reservations, all for confirmed orders`,
      ),
    );

    if (files.notifications)
      results.push(...(await checkNotifications(files.notifications, orders)));
    results.push(await checkPaymentEvents(paymentsDb, captured));

    const paid = captured.reduce((sum, p) => sum + p.amount_micros, 0);
    const owed = confirmed.reduce((sum, o) => sum + (o.total_micros ?? 0), 0);
    results.push(
      check(
        "money conserved to the cent",
        paid === owed ? [] : [`captured ${paid / 1e6} ≠ confirmed totals ${owed / 1e6}`],
        `captured ${(paid / 1e6).toFixed(2)} = confirmed totals ${(owed / 1e6).toFixed(2)}`,
      ),
    );
    return results;
  } finally {
    await Promise.all([ordersDb.destroy(), inventoryDb.destroy(), paymentsDb.destroy()]);
  }
}

/**
 * The payments outbox holds exactly one PaymentCaptured per captured payment and none for
 * anything else: the event is written in the charge's own transaction, whatever was killed.
 * (The load places orders only; a refund would leave its payment PARTIALLY_REFUNDED or
 * REFUNDED, and its PaymentRefunded would be counted the same way.)
 */
async function checkPaymentEvents(
  paymentsDb: Knex,
  captured: { payment_id: string }[],
): Promise<InvariantResult> {
  const events: { payment_id: string }[] = await paymentsDb("outbox")
    .where({ kind: "PAYMENT_CAPTURED" })
    .select("payment_id");
  const perPayment = new Map<string, number>();
  for (const e of events) perPayment.set(e.payment_id, (perPayment.get(e.payment_id) ?? 0) + 1);
  const wrong = captured
    .filter((p) => perPayment.get(p.payment_id) !== 1)
    .map((p) => `${p.payment_id}: ${perPayment.get(p.payment_id) ?? 0} PaymentCaptured events`);
  const capturedIds = new Set(captured.map((p) => p.payment_id));
  for (const id of perPayment.keys())
    if (!capturedIds.has(id)) wrong.push(`${id}: PaymentCaptured for a payment not captured`);
  return check(
    "one PaymentCaptured event per captured payment",
    wrong,
    `${events.length} PaymentCaptured events for ${captured.length} captured payments`,
  );
}

/** Orders still PENDING, read from the orders store. */
export async function pendingOrders(ordersFile: string): Promise<number> {
  const db = open(ordersFile);
  try {
    const [row] = await db("orders").where({ status: "PENDING" }).count({ n: "*" });
    return Number(row?.n ?? 0);
  } finally {
    await db.destroy();
  }
}

/** Exactly one notification per ended order, none duplicated. */
async function checkNotifications(file: string, orders: OrderRow[]): Promise<InvariantResult[]> {
  const db = open(file);
  try {
    const rows = await db<{ order_id: string; event_id: string }>("notifications").select(
      "order_id",
      "event_id",
    );
    const perOrder = new Map<string, number>();
    for (const r of rows) perOrder.set(r.order_id, (perOrder.get(r.order_id) ?? 0) + 1);
    const known = new Set(orders.map((o) => o.order_id));
    const ended = orders.filter((o) => o.status === "CONFIRMED" || o.status === "REJECTED");
    const wrong = ended
      .filter((o) => perOrder.get(o.order_id) !== 1)
      .map((o) => `${o.order_id} (${o.status}): ${perOrder.get(o.order_id) ?? 0} notifications`);
    for (const [orderId, n] of perOrder) {
      if (!known.has(orderId)) wrong.push(`${orderId}: ${n} notifications for an unknown order`);
    }
    const events = new Set(rows.map((r) => r.event_id));
    return [
      check(
        "every confirmed or rejected order has exactly one notification",
        wrong,
        `${rows.length} notifications for ${ended.length} ended orders`,
      ),
      check(
        "no notification is duplicated",
        events.size === rows.length ? [] : [`${rows.length - events.size} duplicates`],
        `${events.size} distinct events`,
      ),
    ];
  } finally {
    await db.destroy();
  }
}

/** Whether every ended order has its notification yet. */
export async function notificationsCaughtUp(
  ordersFile: string,
  notificationsFile: string,
): Promise<boolean> {
  const [ordersDb, notificationsDb] = [open(ordersFile), open(notificationsFile)];
  try {
    const [ended] = await ordersDb("orders")
      .whereIn("status", ["CONFIRMED", "REJECTED"])
      .count({ n: "*" });
    const [sent] = await notificationsDb("notifications").countDistinct({ n: "order_id" });
    return Number(sent?.n ?? 0) >= Number(ended?.n ?? 0);
  } finally {
    await Promise.all([ordersDb.destroy(), notificationsDb.destroy()]);
  }
}

/**
 * Milliseconds from an order ending (its update_time) to its notification being stored, over
 * the run, and the worst for orders that ended `recoveredAfterMs` or more after the first.
 */
export async function notificationLag(
  ordersFile: string,
  notificationsFile: string,
  recoveredAfterMs: number,
): Promise<{ p50: number; p99: number; max: number; maxAfterRecovery: number }> {
  const [ordersDb, notificationsDb] = [open(ordersFile), open(notificationsFile)];
  try {
    const endedRows = await ordersDb<{ order_id: string; update_time: number; status: string }>(
      "orders",
    )
      .whereIn("status", ["CONFIRMED", "REJECTED"])
      .select("order_id", "update_time");
    const ended = new Map(endedRows.map((o) => [o.order_id, o.update_time]));
    const rows = await notificationsDb<{ order_id: string; create_time: number }>(
      "notifications",
    ).select("order_id", "create_time");
    const firstEnd = Math.min(...ended.values());
    const lags: number[] = [];
    let maxAfterRecovery = 0;
    for (const r of rows) {
      const endedAt = ended.get(r.order_id);
      if (endedAt === undefined) continue;
      const lag = r.create_time - endedAt;
      lags.push(lag);
      if (endedAt - firstEnd >= recoveredAfterMs)
        maxAfterRecovery = Math.max(maxAfterRecovery, lag);
    }
    lags.sort((a, b) => a - b);
    const at = (p: number): number =>
      lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? 0;
    return { p50: at(0.5), p99: at(0.99), max: lags[lags.length - 1] ?? 0, maxAfterRecovery };
  } finally {
    await Promise.all([ordersDb.destroy(), notificationsDb.destroy()]);
  }
}
