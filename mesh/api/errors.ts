import { randomBytes } from "node:crypto";
import { Metadata, status, type StatusObject } from "@grpc/grpc-js";
import { badRequestMetadata, type FieldViolation } from "./error-details";
import type { Logger } from "../telemetry/logger";

/**
 * The one error type handlers throw: a gRPC status code and a message for the caller.
 * Anything else a handler throws becomes INTERNAL with a logged trace id.
 */
export class StatusError extends Error {
  override readonly name = "StatusError";

  constructor(
    readonly code: status,
    message: string,
    readonly fieldViolations: readonly FieldViolation[] = [],
    /** Trailers sent with the status, such as `retry-after`. Defaults to none. */
    readonly trailers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

export const invalidArgument = (field: string, description: string): StatusError =>
  new StatusError(status.INVALID_ARGUMENT, `${field}: ${description}`, [{ field, description }]);
export const notFound = (message: string): StatusError =>
  new StatusError(status.NOT_FOUND, message);
export const alreadyExists = (message: string): StatusError =>
  new StatusError(status.ALREADY_EXISTS, message);
export const failedPrecondition = (message: string): StatusError =>
  new StatusError(status.FAILED_PRECONDITION, message);
export const unavailable = (message: string): StatusError =>
  new StatusError(status.UNAVAILABLE, message);

/** True for an error that came back from a gRPC call (grpc-js ServiceError shape). */
export function isGrpcError(err: unknown): err is Error & { code: status; details: string } {
  return (
    err instanceof Error && typeof (err as { code?: unknown }).code === "number" && "details" in err
  );
}

/** True when a downstream call failed with this code. */
export function hasCode(err: unknown, code: status): boolean {
  return isGrpcError(err) && err.code === code;
}

// Downstream failures a handler did not handle itself. Transient ones keep their meaning for
// our caller (it may retry); anything else from a peer is our bug, so it is INTERNAL.
const PASSED_THROUGH = new Set<status>([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.CANCELLED,
  status.RESOURCE_EXHAUSTED,
]);

/**
 * The trailer a mesh server puts on an answer whose message it wrote itself (a handler's
 * StatusError, a shed call's pushback): text meant for the caller. Any other status with a
 * code that the transport also produces (below) may carry grpc-js's or Node's own text, such
 * as `connect ECONNREFUSED 127.0.0.1:51053` or `remote_addr=…`, which no caller is shown.
 */
export const OWN_MESSAGE_KEY = "mesh-own-message";

/** Codes grpc-js and Node produce themselves (connections, deadlines, HTTP/2, parsing). */
const TRANSPORT_CODES = new Set<status>([
  ...PASSED_THROUGH,
  status.UNKNOWN,
  status.INTERNAL,
  status.UNIMPLEMENTED,
  status.DATA_LOSS,
]);

/** Marks an error whose `details` may be shown to a caller as they are. */
const SAFE = Symbol("mesh.safeDetails");

/** Metadata with the {@link OWN_MESSAGE_KEY} trailer, for an answer the mesh wrote. */
export function ownMessageMetadata(metadata = new Metadata()): Metadata {
  metadata.set(OWN_MESSAGE_KEY, "1");
  return metadata;
}

/** What a caller is told instead of the transport's text, by code. */
const TOLD: Partial<Record<status, string>> = {
  [status.UNAVAILABLE]: "is unavailable",
  [status.DEADLINE_EXCEEDED]: "did not answer in time",
  [status.CANCELLED]: "call was cancelled",
  [status.RESOURCE_EXHAUSTED]: "is overloaded",
  [status.UNIMPLEMENTED]: "does not serve this method",
};

/**
 * A peer's failed answer as a caller may see it: the peer's own message when a mesh server
 * wrote it (or the code is one the transport never produces), else a message naming only the
 * peer, the code's meaning and the trace id. `raw` is then the transport's text, for the log.
 */
export function peerFailure(
  code: status,
  details: string,
  metadata: Metadata,
  peer: string,
  traceId: string | undefined,
): { details: string; raw?: string } {
  if (!TRANSPORT_CODES.has(code) || metadata.get(OWN_MESSAGE_KEY).length > 0) return { details };
  const told = `${peer} ${TOLD[code] ?? "failed"}${traceId ? ` (trace id ${traceId})` : ""}`;
  return { details: told, raw: details };
}

/** Marks `err` as carrying a message fit for callers (see {@link peerFailure}). */
export function markSafe<E extends object>(err: E): E {
  (err as Record<symbol, boolean>)[SAFE] = true;
  return err;
}

const isSafe = (err: object): boolean => (err as Record<symbol, boolean>)[SAFE] === true;

// Without telemetry there is no trace: a fresh W3C-shaped id still ties the log to the answer.
const newTraceId = (): string => randomBytes(16).toString("hex");

/**
 * Turns whatever a handler threw into the status sent to the caller. No stack trace and no
 * internal message ever reaches the caller; an unexpected error is logged with a trace id
 * that the caller's message repeats: the call's own (`traceId`), else a new one.
 */
export function toStatus(
  err: unknown,
  method: string,
  log: Logger,
  traceId?: string,
): Partial<StatusObject> {
  if (err instanceof StatusError) {
    // Field violations also travel as google.rpc.BadRequest in grpc-status-details-bin.
    const metadata =
      err.fieldViolations.length > 0
        ? badRequestMetadata(err.code, err.message, err.fieldViolations)
        : new Metadata();
    for (const [key, value] of Object.entries(err.trailers)) metadata.set(key, value);
    return { code: err.code, details: err.message, metadata: ownMessageMetadata(metadata) };
  }
  const id = traceId ?? newTraceId();
  if (isGrpcError(err) && PASSED_THROUGH.has(err.code)) {
    // A mesh peer's failure is already fit to show (peerFailure); anyone else's text is not.
    if (isSafe(err))
      return { code: err.code, details: err.details, metadata: ownMessageMetadata() };
    log.warn({ err, method, trace_id: id }, "a call failed");
    return {
      code: err.code,
      details: `a call failed: ${status[err.code]} (trace id ${id})`,
      metadata: ownMessageMetadata(),
    };
  }
  log.error({ err, method, trace_id: id }, "handler failed");
  return {
    code: status.INTERNAL,
    details: `internal error (trace id ${id})`,
    metadata: ownMessageMetadata(),
  };
}
