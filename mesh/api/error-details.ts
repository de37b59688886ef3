import { Metadata, status } from "@grpc/grpc-js";
import { BadRequest } from "../../gen/google/rpc/error_details";
import { Status } from "../../gen/google/rpc/status";

/** A field that failed validation, as in google.rpc.BadRequest.FieldViolation. */
export interface FieldViolation {
  /** Path of the field in the request, for example `items[2].quantity`. */
  field: string;
  /** What is wrong with it, for example `must be at least 1`. */
  description: string;
}

/** The trailer that carries a serialized google.rpc.Status (the gRPC richer error model). */
export const STATUS_DETAILS_KEY = "grpc-status-details-bin";
/** The Any type URL of google.rpc.BadRequest. */
export const BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest";

/**
 * Trailers for an error with field violations (INVALID_ARGUMENT): a google.rpc.Status whose details hold a
 * google.rpc.BadRequest listing the field violations, so that any gRPC client (grpcurl,
 * grpc-go's status.Details, …) can show which field failed.
 */
export function badRequestMetadata(
  code: status,
  message: string,
  violations: readonly FieldViolation[],
): Metadata {
  const details = Status.encode({
    code,
    message,
    details: [
      {
        typeUrl: BAD_REQUEST_TYPE,
        value: Buffer.from(BadRequest.encode({ fieldViolations: [...violations] }).finish()),
      },
    ],
  }).finish();
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(details));
  return metadata;
}

/** The field violations of a failed call's trailers; empty when it carries none. */
export function fieldViolationsOf(metadata: Metadata): FieldViolation[] {
  const [bytes] = metadata.get(STATUS_DETAILS_KEY);
  if (!(bytes instanceof Buffer)) return [];
  return Status.decode(bytes)
    .details.filter((any) => any.typeUrl === BAD_REQUEST_TYPE)
    .flatMap((any) => BadRequest.decode(any.value).fieldViolations);
}
