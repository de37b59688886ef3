import { status, type ServerWritableStream, type handleServerStreamingCall } from "@grpc/grpc-js";
import type { CallContext } from "../api/call-context";
import { ServerCallContext } from "./context";
import type { EndUserAuthenticator } from "../identity/end-user";
import { toStatus } from "../api/errors";
import { MalformedRequest } from "./handler";
import type { Logger } from "../telemetry/logger";
import type { ServerMethodProbe } from "../telemetry";

/**
 * A server-streaming handler: an async iterable of responses, usually an async generator.
 * The stream ends when it returns; a throw ends it with the mapped status. When the caller
 * cancels, `context.signal` aborts and the mesh stops asking for more (the generator's
 * `finally` runs), so a handler waiting for new data should also wait on the signal.
 */
export type ServerStreamHandler<Req, Res> = (
  request: Req,
  context: CallContext,
) => AsyncIterable<Res>;

/** Resolves when the stream may take more (HTTP/2 flow control) or the caller has gone. */
function writable<Req, Res>(call: ServerWritableStream<Req, Res>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("cancelled", done);
      resolve();
    };
    call.once("drain", done);
    call.once("cancelled", done);
  });
}

/**
 * Adapts a streaming handler to grpc-js. Each response is written only when the previous
 * write was accepted: a slow consumer makes the handler wait instead of the server buffering
 * without bound. With a `probe`, the whole stream is one call in the metrics and one span.
 */
export function adaptServerStream<Req, Res>(
  method: string,
  typeName: string,
  handler: ServerStreamHandler<Req, Res>,
  log: Logger,
  endUsers?: EndUserAuthenticator,
  probe?: ServerMethodProbe,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      call.emit("error", {
        code: status.INVALID_ARGUMENT,
        details: `request: not a valid ${typeName} message (${request.reason})`,
      });
      probe?.count(status.INVALID_ARGUMENT);
      return;
    }
    const context = new ServerCallContext(call, method, log);
    probe?.begin(context);
    const pump = async (): Promise<void> => {
      let code: status = status.CANCELLED;
      try {
        await endUsers?.authenticate(context);
        for await (const response of handler(request, context)) {
          if (call.cancelled) break;
          if (!call.write(response)) await writable(call);
          if (call.cancelled) break;
        }
        if (!call.cancelled) {
          call.end();
          code = status.OK;
        }
      } catch (err) {
        if (!call.cancelled) {
          const answer = toStatus(err, method, log, context.span?.spanContext().traceId);
          call.emit("error", answer);
          code = answer.code ?? status.UNKNOWN;
        }
      } finally {
        probe?.end(context, code);
      }
    };
    void pump();
  };
}
