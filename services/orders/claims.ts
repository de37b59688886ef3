import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "../../mesh";
import type { OrderClaim, OrdersStore } from "./store";

/** Options for {@link createClaims}. */
export interface ClaimsOptions {
  store: OrdersStore;
  log: Logger;
  /** How long a claim holds without renewal. Defaults to 4 seconds. */
  leaseMs?: number;
  /** How often held claims are renewed. Defaults to 1 second. */
  renewEveryMs?: number;
  /** This process's name in the store. Defaults to host, process id and a random tag. */
  owner?: string;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/**
 * This process's claims on PENDING orders. Two orders instances share one store, and each may
 * be asked to finish the same order (a client retrying on the other instance, recovery on
 * both): a claim in the store lets one of them drive a given order at a time. Every step of
 * the saga is idempotent on the order id, so two drivers would not double any effect; the
 * claim keeps them from racing (two compensations, two rounds of calls) at all.
 *
 * A claim lasts `leaseMs` and is renewed every `renewEveryMs` while held, so the claims of an
 * instance that died (SIGKILL) lapse within `leaseMs` and the other instance takes over. The
 * lease compares epoch times written by different processes: on one machine they share a
 * clock; across machines (PostgreSQL) the lease must stay well above their clock skew.
 */
export interface OrderClaims {
  readonly owner: string;
  /** A claim starting now, for an order this process is about to create. */
  fresh(): OrderClaim;
  /** Records that this process holds `orderId` (created with {@link fresh}). */
  holding(orderId: string): void;
  /** Takes `orderId` unless another live process holds it; resolves to whether it did. */
  take(orderId: string): Promise<boolean>;
  /** Lets go of `orderId`: in the store too when `stillPending`. Never rejects. */
  release(orderId: string, stillPending: boolean): Promise<void>;
  /** Whether another process's claim on this order still runs (epoch `until`). */
  heldElsewhere(claim: OrderClaim | undefined): boolean;
  /** Starts renewing held claims. */
  start(): void;
  /** Stops renewing; the claims still held lapse by themselves. */
  stop(): void;
}

const DEFAULT_LEASE_MS = 4_000;
const DEFAULT_RENEW_EVERY_MS = 1_000;

export function createClaims(options: ClaimsOptions): OrderClaims {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const renewEveryMs = options.renewEveryMs ?? DEFAULT_RENEW_EVERY_MS;
  const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
  // Orders held, with how many runs in this process hold each (a replay joins a run).
  const held = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let renewing: Promise<unknown> = Promise.resolve();

  const hold = (orderId: string): void => void held.set(orderId, (held.get(orderId) ?? 0) + 1);

  const renew = async (): Promise<void> => {
    if (held.size === 0) return;
    try {
      const renewed = await store.renewClaims(owner, now() + leaseMs);
      if (renewed < held.size) {
        // Orders that ended, or (after a stall longer than the lease) were taken over: the
        // saga's steps are idempotent, so the run here still ends right; say so.
        log.debug({ renewed, held: held.size }, "fewer order claims renewed than held");
      }
    } catch (err) {
      log.warn({ err }, "order claims could not be renewed; they lapse if this goes on");
    }
  };

  return {
    owner,
    fresh: () => ({ owner, until: now() + leaseMs }),
    holding: hold,
    async take(orderId) {
      const taken = await store.claim(orderId, { owner, until: now() + leaseMs }, now());
      if (taken) hold(orderId);
      return taken;
    },
    async release(orderId, stillPending) {
      const count = (held.get(orderId) ?? 1) - 1;
      if (count > 0) {
        held.set(orderId, count);
        return;
      }
      held.delete(orderId);
      if (!stillPending) return;
      // Never fails the call it ends: a claim not let go lapses after the lease anyway.
      await store.releaseClaim(orderId, owner).catch((err: unknown) => {
        log.warn({ err, orderId }, "order claim not released; it lapses by itself");
      });
    },
    heldElsewhere: (claim) => claim !== undefined && claim.owner !== owner && claim.until > now(),
    start() {
      if (timer) return;
      timer = setInterval(() => {
        renewing = renew();
      }, renewEveryMs);
      // Renewal alone never keeps the process alive.
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
      void renewing;
    },
  };
}
