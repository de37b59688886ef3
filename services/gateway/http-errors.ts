import { status } from "@grpc/grpc-js";
import { isGrpcError } from "../../mesh";

/**
 * gRPC codes as HTTP statuses, as googleapis google/rpc/code.proto documents them
 * (https://github.com/googleapis/googleapis/blob/master/google/rpc/code.proto).
 * 499 is "Client Closed Request", as code.proto gives for CANCELLED.
 */
const HTTP_STATUS: Record<status, number> = {
  [status.OK]: 200,
  [status.CANCELLED]: 499,
  [status.UNKNOWN]: 500,
  [status.INVALID_ARGUMENT]: 400,
  [status.DEADLINE_EXCEEDED]: 504,
  [status.NOT_FOUND]: 404,
  [status.ALREADY_EXISTS]: 409,
  [status.PERMISSION_DENIED]: 403,
  [status.RESOURCE_EXHAUSTED]: 429,
  [status.FAILED_PRECONDITION]: 400,
  [status.ABORTED]: 409,
  [status.OUT_OF_RANGE]: 400,
  [status.UNIMPLEMENTED]: 501,
  [status.INTERNAL]: 500,
  [status.UNAVAILABLE]: 503,
  [status.DATA_LOSS]: 500,
  [status.UNAUTHENTICATED]: 401,
};

// The services answer INVALID_ARGUMENT as "<field>: <what is wrong>" (mesh/errors.ts).
const FIELD_MESSAGE = /^([\w.[\]-]+): (.+)$/s;
const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

/** `user_id` → `userId`: the JSON name of a proto field (proto3 JSON mapping). */
export const toCamel = (name: string): string =>
  name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The HTTP status of a gRPC code (code.proto's mapping); 500 for an unknown code. */
export function httpStatusOf(code: status): number {
  return HTTP_STATUS[code] ?? 500;
}

/**
 * An error the gateway answers as JSON: `{ error: { code, status, message, details } }`, the
 * shape Google's HTTP APIs use (https://cloud.google.com/apis/design/errors#http_mapping).
 */
export class HttpError extends Error {
  override readonly name = "HttpError";

  constructor(
    /** The gRPC code it stands for. */
    readonly grpcCode: status,
    message: string,
    readonly details: readonly object[] = [],
    /** The HTTP status; defaults to the code's mapping. */
    readonly httpStatus: number = httpStatusOf(grpcCode),
  ) {
    super(message);
  }

  /** The JSON body. */
  toJSON(): object {
    return {
      error: {
        code: this.httpStatus,
        status: status[this.grpcCode] ?? "UNKNOWN",
        message: this.message,
        details: this.details,
      },
    };
  }
}

/** A 400 naming the field, with a google.rpc.BadRequest detail. */
export function badRequest(field: string, description: string): HttpError {
  return new HttpError(status.INVALID_ARGUMENT, `${field}: ${description}`, [
    { "@type": BAD_REQUEST_TYPE, fieldViolations: [{ field, description }] },
  ]);
}

/** A 404 for a path or method the gateway does not serve. */
export function routeNotFound(method: string, path: string): HttpError {
  return new HttpError(status.NOT_FOUND, `no route for ${method} ${path}`);
}

/**
 * Whatever a route threw, as an HttpError: gRPC errors keep their code and message (the
 * mesh's peers hand over only messages fit for callers: no addresses, stacks or driver text),
 * and an INVALID_ARGUMENT naming a field gets its BadRequest detail; anything else is a 500
 * whose message names no internals, only the trace id its log line carries.
 */
export function toHttpError(err: unknown, traceId?: string): HttpError {
  if (err instanceof HttpError) return err;
  if (isGrpcError(err)) {
    const match = err.code === status.INVALID_ARGUMENT ? FIELD_MESSAGE.exec(err.details) : null;
    return match ? badRequest(toCamel(match[1]), match[2]) : new HttpError(err.code, err.details);
  }
  const trace = traceId ? ` (trace id ${traceId})` : "";
  return new HttpError(status.INTERNAL, `internal error in the gateway${trace}`);
}

const REQUEST_INFO_TYPE = "type.googleapis.com/google.rpc.RequestInfo";

/**
 * The error's JSON body with a google.rpc.RequestInfo detail whose `requestId` is the trace
 * id: what a caller quotes, and what the gateway's and the services' logs are searched by.
 */
export function errorBody(error: HttpError, traceId: string | undefined): object {
  const body = error.toJSON() as { error: { details: object[] } };
  if (traceId)
    body.error.details = [
      ...body.error.details,
      { "@type": REQUEST_INFO_TYPE, requestId: traceId },
    ];
  return body;
}
