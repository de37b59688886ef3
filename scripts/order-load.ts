import { status } from "@grpc/grpc-js";
import type { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { isGrpcError, type Peer } from "../mesh";

/** Options for {@link runOrderLoad}. */
export interface OrderLoadOptions {
  orders: Peer<typeof OrderServiceService>;
  userIds: readonly string[];
  skus: readonly string[];
  /** Orders started per second. */
  ratePerSecond: number;
  /** Stop starting orders after this long. */
  durationMs: number;
  /** And after this many. */
  maxOrders: number;
  /** Share of orders paid with a card that is declined (0 to 1). Defaults to 0.05. */
  declineShare?: number;
  /** Attempts per order by the client, same request_id each time. Defaults to 6. */
  clientAttempts?: number;
  /** Seeded randomness. */
  random: () => number;
  /** Prefix of the request ids, unique per run. */
  runId: string;
  /** Called about once a second with the numbers so far. */
  onProgress?: (stats: OrderLoadStats, elapsedMs: number) => void;
}

/** What the client saw. */
export interface OrderLoadStats {
  started: number;
  confirmed: number;
  /** Definitive refusals (no stock, declined card), by code name. */
  rejected: Map<string, number>;
  /** Orders that failed for the client even after its retries, by code name. */
  failed: Map<string, number>;
  /**
   * Orders whose first attempt failed (not a refusal), by code name: what a client that does
   * not retry would have seen.
   */
  firstAttemptFailed: Map<string, number>;
  /** The first error message seen of each code that was not a refusal, for the report. */
  errorSamples: Map<string, string>;
  /** Errors of single attempts that a client retry then absorbed, by code name. */
  retriedErrors: Map<string, number>;
  /** Client-level retries (the mesh's own retries and hedges happen below this). */
  clientRetries: number;
  /** request_id → order_id of every CONFIRMED answer. */
  acknowledged: Map<string, string>;
  /** Milliseconds from first attempt to final answer, per finished order. */
  latenciesMs: number[];
}

/** Codes that mean "not decided, try again with the same key" (see the orders contract). */
const RETRY_CODES = new Set<number>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.CANCELLED,
]);
const DEFINITIVE_CODES = new Set<number>([status.FAILED_PRECONDITION, status.NOT_FOUND]);
const BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 2_000;

const bump = (map: Map<string, number>, key: string): void =>
  void map.set(key, (map.get(key) ?? 0) + 1);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Places orders at a fixed rate, as a well-behaved client does: each with its own request_id,
 * retried with the same id and exponential backoff while the answer is not definitive.
 * Bounded by count and by its schedule (the orders due within the duration); resolves when
 * every started order has its final answer.
 */
export async function runOrderLoad(options: OrderLoadOptions): Promise<OrderLoadStats> {
  const { orders, random } = options;
  const attempts = options.clientAttempts ?? 6;
  const stats: OrderLoadStats = {
    started: 0,
    confirmed: 0,
    rejected: new Map(),
    failed: new Map(),
    firstAttemptFailed: new Map(),
    errorSamples: new Map(),
    retriedErrors: new Map(),
    clientRetries: 0,
    acknowledged: new Map(),
    latenciesMs: [],
  };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];

  const placeOne = async (n: number): Promise<void> => {
    const requestId = `${options.runId}-${n}`;
    const skus = new Set([pick(options.skus), ...(random() < 0.3 ? [pick(options.skus)] : [])]);
    const request = {
      requestId,
      userId: pick(options.userIds),
      items: [...skus].map((sku) => ({ sku, quantity: 1 + Math.floor(random() * 3) })),
      paymentMethod: random() < (options.declineShare ?? 0.05) ? "tok_chargeDeclined" : "tok_visa",
    };
    const began = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const { order } = await orders.placeOrder(request);
        stats.confirmed++;
        stats.acknowledged.set(requestId, order?.orderId ?? "");
        break;
      } catch (err) {
        const code = isGrpcError(err) ? err.code : status.UNKNOWN;
        if (DEFINITIVE_CODES.has(code)) {
          bump(stats.rejected, status[code]);
          break;
        }
        if (attempt === 1) bump(stats.firstAttemptFailed, status[code]);
        if (!stats.errorSamples.has(status[code])) {
          stats.errorSamples.set(status[code], isGrpcError(err) ? err.details : String(err));
        }
        if (!RETRY_CODES.has(code) || attempt >= attempts) {
          bump(stats.failed, status[code]);
          break;
        }
        bump(stats.retriedErrors, status[code]);
        stats.clientRetries++;
        const backoff = Math.min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** (attempt - 1));
        await sleep(backoff * (0.5 + random()));
      }
    }
    stats.latenciesMs.push(Date.now() - began);
  };

  const start = Date.now();
  const running = new Set<Promise<void>>();
  const interval = 1_000 / options.ratePerSecond;
  let nextProgress = start + 1_000;
  // Order n is due at start + n × interval: every order due within the duration is sent, late if
  // the machine is busy, so that a run's count is rate × duration however loaded the machine.
  while (stats.started < options.maxOrders && stats.started * interval < options.durationMs) {
    const n = stats.started++;
    const order = placeOne(n).finally(() => running.delete(order));
    running.add(order);
    if (options.onProgress && Date.now() >= nextProgress) {
      options.onProgress(stats, Date.now() - start);
      nextProgress += 1_000;
    }
    // Paced on the schedule, not on the last send, so the rate holds when the loop is late.
    const wait = start + (n + 1) * interval - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(running);
  return stats;
}
