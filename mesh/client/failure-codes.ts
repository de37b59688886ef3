import { status } from "@grpc/grpc-js";

/**
 * The statuses that say an instance failed, rather than that it answered: the only ones the
 * mesh's outlier ejection (balancer.ts) counts as failures, and, but for DEADLINE_EXCEEDED,
 * its circuit breaker (breaker.ts; see {@link isPeerFailure}).
 *
 * - UNAVAILABLE: unreachable, refused, draining, or the connection broke mid-call.
 * - DEADLINE_EXCEEDED: no answer in time; a partitioned or stuck instance shows only this.
 * - INTERNAL, UNKNOWN: the instance broke (a bug, a handler that threw something untyped).
 *
 * Every other status is an answer the handler meant, from an instance that works:
 * INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (no stock, a declined card),
 * PERMISSION_DENIED, UNAUTHENTICATED, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED. grpc-js's own
 * outlier detection counts all of them (load-balancer-outlier-detection.js: any status but OK
 * is a failure), which is why the mesh does its own: with many orders refused for stock, it
 * ejected healthy inventory instances (issue 14).
 *
 * RESOURCE_EXHAUSTED does not count either. The server sheds with it when it is at its
 * concurrency limit, a caller is over its rate, or a message is too large: the last two are
 * about the caller and would be the same on every instance, and the first is load, which
 * ejection would only pile onto the remaining instances (an overloaded pair becomes one
 * instance at double the load). Shed calls are retried after the server's pushback instead
 * (mesh.yaml retryableCodes), which is how gRPC spreads load (gRFC A6).
 *
 * CANCELLED is neither: the caller gave up (a hedge that lost, a cancelled parent).
 */
export const INSTANCE_FAILURES: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.INTERNAL,
  status.UNKNOWN,
]);

/** Whether a call ending with `code` counts against the instance (or peer) that ended it. */
export const isInstanceFailure = (code: status): boolean => INSTANCE_FAILURES.has(code);

/**
 * Whether a call ending with `code` counts against the peer as a whole, in its circuit
 * breaker: the instance failures less DEADLINE_EXCEEDED. The breaker sees a peer's calls,
 * not which instance ended each, and a partitioned instance's calls all end at their deadline
 * together: more than failureThreshold "in a row" while the other instance answers every call
 * it gets. Counting them opened the circuit to all of inventory when one instance of two was
 * cut off (the cascade of issue 14). The instance's own ejection counts them, as it knows the
 * instance. A deadline spent is also often the caller's budget, not the peer's failure.
 */
export const isPeerFailure = (code: status): boolean =>
  code !== status.DEADLINE_EXCEEDED && INSTANCE_FAILURES.has(code);
