import type { OrderStatus } from "../../gen/shop/orders/v1/orders";
import type { Logger } from "../../mesh";
import type { OrderClaims } from "./claims";
import type { Saga } from "./saga";
import type { OrdersStore } from "./store";

/** Options for {@link createRecovery}. */
export interface RecoveryOptions {
  store: OrdersStore;
  saga: Saga;
  /** This process's claims: an order is rolled forward only by the instance that took it. */
  claims: OrderClaims;
  log: Logger;
  /** How often to look for stuck orders. Defaults to 5 seconds. */
  intervalMs?: number;
  /** A PENDING order no one holds, untouched this long, is stuck. Defaults to 5 seconds. */
  staleAfterMs?: number;
  /** Most orders rolled forward per pass. Defaults to 50. */
  batchSize?: number;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** Finishes orders that a crash, or a failed step, left PENDING. */
export interface Recovery {
  /** One pass: rolls forward PENDING orders untouched for `staleAfterMs`; resolves to how many ended. */
  runOnce(staleAfterMs?: number): Promise<number>;
  /** A pass over every PENDING order now, then a pass every `intervalMs` until stopped. */
  start(): void;
  /** Stops the passes and waits for the one under way. */
  stop(): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 5_000;
const DEFAULT_STALE_AFTER_MS = 5_000;
const DEFAULT_BATCH_SIZE = 50;

export function createRecovery(options: RecoveryOptions): Recovery {
  const { store, saga, claims, log } = options;
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const staleAfter = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<number> = Promise.resolve(0);
  let stopped = false;

  async function runOnce(staleAfterMs = staleAfter): Promise<number> {
    const stuck = await store.pending(
      now() - staleAfterMs + 1,
      options.batchSize ?? DEFAULT_BATCH_SIZE,
      now(),
    );
    let ended = 0;
    for (const order of stuck) {
      if (stopped) break;
      // Taken first: the other instance's pass, or a client's retry there, leaves it alone
      // while this one drives it; if that instance took it first, it is its to finish.
      if (!(await claims.take(order.orderId))) continue;
      let status: OrderStatus | undefined;
      try {
        status = (await saga.run(order)).status;
        log.info({ orderId: order.orderId, status }, "recovered a pending order");
        ended++;
      } catch (err) {
        log.warn(
          { orderId: order.orderId, err },
          "pending order could not be finished yet; will retry",
        );
      } finally {
        await claims.release(order.orderId, status === undefined);
      }
    }
    return ended;
  }

  const schedule = (staleAfterMs: number, delay: number): void => {
    timer = setTimeout(() => {
      pass = runOnce(staleAfterMs).catch((err: unknown) => {
        log.error({ err }, "recovery pass failed");
        return 0;
      });
      void pass.finally(() => {
        if (!stopped) schedule(staleAfter, interval);
      });
    }, delay);
    // Recovery alone never keeps the process alive.
    timer.unref();
  };

  return {
    runOnce,
    start: () => schedule(0, 0),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}
