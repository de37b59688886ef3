/**
 * How grpcurl reports a failed call (PrintStatus in its format.go), to stderr:
 *
 *     ERROR:
 *       Code: FailedPrecondition
 *       Message: not enough stock for sku-kettle: 3 available, 5 requested
 *
 * followed by the status details (google.rpc.Status in `grpc-status-details-bin`), each as
 * JSON. Codes are named as grpc-go names them (codes.Code.String()).
 */
import { status } from "@grpc/grpc-js";

const GO_CODE_NAMES: Record<status, string> = {
  [status.OK]: "OK",
  [status.CANCELLED]: "Canceled",
  [status.UNKNOWN]: "Unknown",
  [status.INVALID_ARGUMENT]: "InvalidArgument",
  [status.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [status.NOT_FOUND]: "NotFound",
  [status.ALREADY_EXISTS]: "AlreadyExists",
  [status.PERMISSION_DENIED]: "PermissionDenied",
  [status.RESOURCE_EXHAUSTED]: "ResourceExhausted",
  [status.FAILED_PRECONDITION]: "FailedPrecondition",
  [status.ABORTED]: "Aborted",
  [status.OUT_OF_RANGE]: "OutOfRange",
  [status.UNIMPLEMENTED]: "Unimplemented",
  [status.INTERNAL]: "Internal",
  [status.UNAVAILABLE]: "Unavailable",
  [status.DATA_LOSS]: "DataLoss",
  [status.UNAUTHENTICATED]: "Unauthenticated",
};

/** grpc-go's name of a status code: `FailedPrecondition`, `Code(42)` for an unknown one. */
export const goCodeName = (code: number): string =>
  GO_CODE_NAMES[code as status] ?? `Code(${code})`;

/** grpcurl's exit code for a call that ended with `code`: 64 + the code (0 for OK). */
export const exitCodeOf = (code: number): number => (code === Number(status.OK) ? 0 : 64 + code);

/** A failed RPC as grpc-go's error string: `rpc error: code = NotFound desc = …`. */
export const rpcErrorText = (code: number, details: string): string =>
  `rpc error: code = ${goCodeName(code)} desc = ${details}`;

/** The ERROR block; `details` are the status details already formatted as JSON. */
export function statusText(code: number, message: string, details: string[]): string {
  const lines = ["ERROR:", `  Code: ${goCodeName(code)}`, `  Message: ${message}`];
  if (details.length > 0) {
    lines.push("  Details:");
    details.forEach((json, i) => {
      const prefix = `  ${i + 1})`;
      const pad = `${" ".repeat(prefix.length)}\t`;
      json
        .split("\n")
        .forEach((line, j) => lines.push(j === 0 ? `${prefix}\t${line}` : `${pad}${line}`));
    });
  }
  return `${lines.join("\n")}\n`;
}
