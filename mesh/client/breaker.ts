import { status } from "@grpc/grpc-js";
import { isPeerFailure } from "./failure-codes";

/** Where a circuit breaker stands. */
export type BreakerState = "closed" | "open" | "half-open";

/** Told of every change of state, after it has happened. Must not throw. */
export type BreakerListener = (state: BreakerState, previous: BreakerState) => void;

/** What callers of a peer may see of its breaker: where it stands, and when that changes. */
export interface BreakerView {
  state(): BreakerState;
  /** Adds a listener (metrics, logs); returns a function that removes it. */
  onStateChange(listener: BreakerListener): () => void;
}

/**
 * A call's ticket from {@link CircuitBreaker.admit}, handed back to `record`: REJECTED, PROBE,
 * or an ordinary call's `ADMITTED + n`, where n counts the failures recorded before it went out.
 */
export type Admission = number;
/** Fail the call at once, without touching the network. */
export const REJECTED = 0;
/** The one call let through while half-open: its outcome closes or re-opens the circuit. */
export const PROBE = 1;
/**
 * An ordinary call (this or above): it goes out, and its outcome counts while the circuit is
 * closed.
 */
export const ADMITTED = 2;

/** Options for {@link createCircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** What the circuit protects, for messages: the peer's service name. */
  name: string;
  /** Failures in a row (UNAVAILABLE, INTERNAL, UNKNOWN: failure-codes.ts) that open it. */
  failureThreshold: number;
  /** How long the circuit stays open before a probe call may go through, in milliseconds. */
  openFor: number;
  /** Defaults to `Date.now`. */
  now?: () => number;
}

/** A per-peer circuit breaker; see {@link createCircuitBreaker}. */
export interface CircuitBreaker extends BreakerView {
  /** Decides whether a call may go out. Allocation-free and clock-free while closed. */
  admit(): Admission;
  /** Records how an admitted call ended (its status code, OK for success). */
  record(admission: Admission, code: status): void;
  /** Why `admit` refused, for the error the caller gets. */
  rejectionDetails(): string;
}

/**
 * A circuit breaker in the classic three states. Closed: calls go out, and `failureThreshold`
 * failures in a row open it. Open: calls fail at once for `openFor`. Half-open: exactly one
 * call goes out as a probe; an answer closes the circuit, a failure re-opens it.
 *
 * A failure is UNAVAILABLE, INTERNAL or UNKNOWN (failure-codes.ts `isPeerFailure`): the peer
 * could not be reached, or broke. Any other status is an answer, so the peer is up (a
 * NOT_FOUND or a FAILED_PRECONDITION is a business outcome, not an outage), and resets the
 * count. DEADLINE_EXCEEDED and CANCELLED count for nothing: a partitioned instance's calls
 * time out together, in a burst that says nothing of the other instances (its ejection
 * counts them), and a cancellation is the caller's choice; a probe ending so lets the next
 * call probe.
 *
 * "In a row" means one after another: a failure counts only when its call went out after the
 * last failure counted. The calls in flight on one connection when it drops (an instance
 * killed or cut off) fail together, as one event: they say that instance failed, which is its
 * ejection's business, not that the service is down. Calls that keep failing after that, each
 * sent after the previous one failed, do open the circuit.
 */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const { name, failureThreshold, openFor } = options;
  const now = options.now ?? Date.now;
  const listeners = new Set<BreakerListener>();
  let current: BreakerState = "closed";
  let failures = 0;
  // Failures counted so far; an ordinary call's ticket is ADMITTED + this, when it went out.
  let counted = 0;
  let probeAt = 0;
  let probing = false;

  const moveTo = (next: BreakerState): void => {
    const previous = current;
    current = next;
    if (next === "open") probeAt = now() + openFor;
    if (next === "closed") failures = 0;
    probing = false;
    for (const listener of listeners) listener(next, previous);
  };
  // The move to half-open is lazy: no timer runs while the circuit is open.
  const settle = (): void => {
    if (current === "open" && now() >= probeAt) moveTo("half-open");
  };

  return {
    state() {
      settle();
      return current;
    },

    onStateChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },

    admit() {
      if (current === "closed") return ADMITTED + counted;
      settle();
      if (current === "open" || probing) return REJECTED;
      probing = true;
      return PROBE;
    },

    record(admission, code) {
      if (code === status.CANCELLED || code === status.DEADLINE_EXCEEDED) {
        if (admission === PROBE) probing = false;
        return;
      }
      const failed = isPeerFailure(code);
      if (admission === PROBE) {
        moveTo(failed ? "open" : "closed");
        return;
      }
      // Calls that went out before the circuit opened do not decide it; the probe does.
      if (current !== "closed") return;
      if (!failed) failures = 0;
      // Failed together with a failure already counted (it went out before that one ended).
      else if (admission - ADMITTED < counted) return;
      else {
        counted++;
        if (++failures >= failureThreshold) moveTo("open");
      }
    },

    rejectionDetails() {
      if (current === "half-open") {
        return `circuit to ${name} is open: a probe call is in flight to see whether it recovered`;
      }
      const waitMs = Math.max(0, Math.ceil(probeAt - now()));
      return `circuit to ${name} is open after ${failureThreshold} calls in a row failed (unavailable or broken); next probe in ${waitMs} ms`;
    },
  };
}
