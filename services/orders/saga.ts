import { status } from "@grpc/grpc-js";
import type { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderStatus } from "../../gen/shop/orders/v1/orders";
import type { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import type { UserServiceService } from "../../gen/shop/users/v1/users";
import { isGrpcError, type CallContext, type Logger, type Peer } from "../../mesh";
import { fromMicros, toMicros, totalMicros } from "../common/money";
import type { OrderLine, OrderRecord, OrdersStore } from "./store";

/** What the saga needs. */
export interface SagaDeps {
  store: OrdersStore;
  users: Peer<typeof UserServiceService>;
  inventory: Peer<typeof InventoryServiceService>;
  payments: Peer<typeof PaymentServiceService>;
  log: Logger;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** Drives orders from PENDING to CONFIRMED or REJECTED. */
export interface Saga {
  /**
   * Runs the order's remaining steps and resolves to the order as stored once it ended.
   * Every step is idempotent on the order id, so running an order again (a replayed request,
   * recovery after a crash) repeats no effect. A transient failure (a peer unavailable, the
   * deadline spent) rejects and leaves the order PENDING, to be rolled forward later.
   */
  run(order: OrderRecord, parent?: CallContext): Promise<OrderRecord>;
}

/** A definitive refusal by a peer: the order is rejected with this code and reason. */
class Refusal {
  constructor(
    readonly code: status,
    readonly reason: string,
  ) {}
}

/** Codes a peer answers when it decided, as opposed to when it could not be reached. */
const DEFINITIVE: ReadonlySet<number> = new Set([status.NOT_FOUND, status.FAILED_PRECONDITION]);

/** Attempts of a step that failed for a moment (UNAVAILABLE, DEADLINE_EXCEEDED). */
const STEP_ATTEMPTS = 3;
// A step is tried again only if the caller's deadline leaves at least this much.
const MIN_RETRY_BUDGET_MS = 500;
// Pause before trying again: long enough for the balancer to have heard of the failure.
const RETRY_PAUSE_MS = 50;

/**
 * Calls `call`, and again while it fails for a moment (UNAVAILABLE after the mesh's own
 * retries, or DEADLINE_EXCEEDED: its instance did not answer within the step's timeout) and
 * `parent`'s deadline leaves time, up to {@link STEP_ATTEMPTS}: every step is idempotent on
 * the order id, and the next attempt goes to another instance (the balancer passes over one
 * whose call just failed, and ejects it if it keeps failing). grpc-js never retries
 * DEADLINE_EXCEEDED itself (gRFC A6: it is the whole call's deadline). Any other error, or a
 * step out of attempts or time, is rethrown.
 */
async function retryingTransient<T>(
  name: string,
  call: () => Promise<T>,
  parent: CallContext | undefined,
  log: Logger,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const transient =
        isGrpcError(err) &&
        (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED);
      const budgetMs = parent ? parent.deadline - Date.now() : Infinity;
      if (
        !transient ||
        attempt >= STEP_ATTEMPTS ||
        parent?.signal.aborted ||
        budgetMs < MIN_RETRY_BUDGET_MS
      ) {
        throw err;
      }
      log.info({ step: name, attempt, code: status[err.code], budgetMs }, "trying a step again");
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS * attempt));
    }
  }
}

/**
 * Calls a step (tried again while it fails for a moment: {@link retryingTransient}); a
 * definitive answer becomes a {@link Refusal}. INVALID_ARGUMENT from a peer means the two
 * services disagree on validity, a bug: the step had no effect, so the order is refused as
 * INTERNAL rather than retried forever. Anything else is rethrown: transient, the order stays
 * PENDING for a retry with the same request_id, or recovery.
 */
async function step<T>(
  name: string,
  call: () => Promise<T>,
  parent: CallContext | undefined,
  log: Logger,
): Promise<T | Refusal> {
  try {
    return await retryingTransient(name, call, parent, log);
  } catch (err) {
    if (!isGrpcError(err)) throw err;
    if (DEFINITIVE.has(err.code)) return new Refusal(err.code, err.details);
    if (err.code === status.INVALID_ARGUMENT) {
      return new Refusal(status.INTERNAL, `${name} refused the order's request: ${err.details}`);
    }
    throw err;
  }
}

export function createSaga(deps: SagaDeps): Saga {
  const { store, users, inventory, payments } = deps;
  const now = deps.now ?? Date.now;
  // One run per order at a time in this process; a second caller waits for the first.
  const running = new Map<string, Promise<OrderRecord>>();

  async function drive(order: OrderRecord, parent?: CallContext): Promise<OrderRecord> {
    // Inside a call its log lines carry the call's trace_id and span_id.
    const log = parent?.log ?? deps.log;
    const { orderId, userId } = order;
    const options = { parent };
    const reject = async (
      refusal: Refusal,
      reserved: boolean,
      items?: OrderLine[],
    ): Promise<OrderRecord> => {
      // Released even when the reservation failed: the release is recorded, so a retried or
      // hedged ReserveStock still in flight cannot take stock for this order afterwards.
      // Without `parent`: compensation must finish even if our caller has gone.
      if (reserved) {
        await retryingTransient(
          "release",
          () => inventory.releaseStock({ orderId }),
          undefined,
          log,
        );
      }
      log.info({ orderId, code: status[refusal.code], reason: refusal.reason }, "order rejected");
      return store.finish(
        order,
        { status: OrderStatus.ORDER_STATUS_REJECTED, ...refusal, items },
        now(),
      );
    };

    const user = await step("users", () => users.getUser({ userId }, options), parent, log);
    if (user instanceof Refusal) return reject(user, false);

    const items = order.items.map(({ sku, quantity }) => ({ sku, quantity }));
    const reserved = await step(
      "inventory",
      () => inventory.reserveStock({ orderId, items }, options),
      parent,
      log,
    );
    if (reserved instanceof Refusal) return reject(reserved, true);

    const prices = new Map(
      reserved.reservation?.items.map((item) => [item.sku, item.unitPrice]) ?? [],
    );
    const priced: OrderLine[] = order.items.map((line) => {
      const price = prices.get(line.sku);
      return {
        ...line,
        unitPriceMicros: price && toMicros(price),
        currencyCode: price?.currencyCode,
      };
    });
    const currencies = new Set(priced.map((line) => line.currencyCode));
    const total = totalMicros(
      priced.map((l) => ({ quantity: l.quantity, unitPriceMicros: l.unitPriceMicros ?? 0 })),
    );
    if (currencies.size !== 1 || priced.some((l) => l.unitPriceMicros === undefined)) {
      return reject(
        new Refusal(status.FAILED_PRECONDITION, "the items are not priced in one currency"),
        true,
        priced,
      );
    }
    if (total === undefined) {
      return reject(
        new Refusal(status.FAILED_PRECONDITION, "the order total is over the maximum amount"),
        true,
        priced,
      );
    }
    const currencyCode = priced[0].currencyCode ?? "";

    let paymentId = "";
    if (total > 0) {
      const charged = await step(
        "payments",
        () =>
          payments.charge(
            {
              orderId,
              userId,
              amount: fromMicros(total, currencyCode),
              paymentMethod: order.paymentMethod,
            },
            options,
          ),
        parent,
        log,
      );
      if (charged instanceof Refusal) return reject(charged, true, priced);
      paymentId = charged.payment?.paymentId ?? "";
    }

    log.info({ orderId, totalMicros: total, paymentId }, "order confirmed");
    return store.finish(
      order,
      {
        status: OrderStatus.ORDER_STATUS_CONFIRMED,
        paymentId,
        items: priced,
        totalMicros: total,
        currencyCode,
      },
      now(),
    );
  }

  return {
    run(order, parent) {
      let run = running.get(order.orderId);
      if (!run) {
        run = drive(order, parent).finally(() => running.delete(order.orderId));
        running.set(order.orderId, run);
      }
      return run;
    },
  };
}
