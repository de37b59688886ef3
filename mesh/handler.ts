import {
  status,
  type handleUnaryCall,
  type ServerUnaryCall,
  type sendUnaryData,
} from "@grpc/grpc-js";
import { ServerCallContext, type CallContext } from "./context";
import { toStatus } from "./errors";
import type { Logger } from "./logger";

/** A unary handler: takes the decoded request and the call's context, resolves the response. */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

/** Stands in for a request whose bytes did not decode, so the handler layer can refuse it. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

/**
 * Wraps a generated deserializer so that undecodable bytes become a {@link MalformedRequest}
 * instead of an exception: grpc-js answers INTERNAL to a throwing deserializer, and bad input
 * is the caller's error, not ours.
 */
export function tolerantDeserializer<T>(decode: (bytes: Buffer) => T): (bytes: Buffer) => T {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (err) {
      return new MalformedRequest(err instanceof Error ? err.message : String(err)) as T;
    }
  };
}

/**
 * Adapts an async handler to grpc-js, once per method at registration. Per call it does only
 * what it must: check the request decoded, build the context, and map a rejection to a status.
 */
export function adaptUnary<Req, Res>(
  method: string,
  typeName: string,
  handler: UnaryHandler<Req, Res>,
  log: Logger,
): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      callback({
        code: status.INVALID_ARGUMENT,
        details: `request: not a valid ${typeName} message (${request.reason})`,
      });
      return;
    }
    let pending: Promise<Res>;
    try {
      pending = handler(request, new ServerCallContext(call, method, log));
    } catch (err) {
      // Whatever was thrown, Error or not, goes to the same mapping as a rejection.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      pending = Promise.reject(err);
    }
    pending.then(
      (response) => callback(null, response),
      (err: unknown) => callback(toStatus(err, method, log)),
    );
  };
}
