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
    return { code: err.code, details: err.message, metadata };
  }
  if (isGrpcError(err) && PASSED_THROUGH.has(err.code)) {
    return { code: err.code, details: `upstream: ${err.details}`, metadata: new Metadata() };
  }
  const id = traceId ?? newTraceId();
  log.error({ err, method, traceId: id }, "handler failed");
  return {
    code: status.INTERNAL,
    details: `internal error (trace id ${id})`,
    metadata: new Metadata(),
  };
}
