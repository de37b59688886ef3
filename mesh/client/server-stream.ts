import type { Client, Metadata } from "@grpc/grpc-js";
import type { CallContext } from "../api/call-context";
import { outgoingMetadata } from "../identity/end-user";

/** Per-call options of a streaming {@link Peer} method. */
export interface StreamCallOptions {
  /** Ends the stream when aborted; the iterator then throws CANCELLED. */
  signal?: AbortSignal;
  /** A deadline for the whole stream. Defaults to none: streams are long-lived. */
  timeoutMs?: number;
  /** The incoming call this stream serves; its deadline and cancellation apply. */
  parent?: CallContext;
  metadata?: Metadata;
}

/** Opens a server stream and returns it as an async iterable of responses. */
export function openServerStream<Req, Res>(
  client: Client,
  path: string,
  serialize: (value: Req) => Buffer,
  deserialize: (bytes: Buffer) => Res,
  request: Req,
  options: StreamCallOptions = {},
): AsyncIterable<Res> {
  let deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  if (options.parent) deadline = Math.min(deadline, options.parent.deadline);
  const stream = client.makeServerStreamRequest(
    path,
    serialize,
    deserialize,
    request,
    outgoingMetadata(options.metadata, options.parent),
    options.parent ? { deadline, parent: options.parent.call } : { deadline },
  );
  const signal = options.signal;
  if (signal) {
    const cancel = (): void => stream.cancel();
    if (signal.aborted) cancel();
    else signal.addEventListener("abort", cancel, { once: true });
    stream.once("close", () => signal.removeEventListener("abort", cancel));
  }
  // A grpc-js ClientReadableStream is an object-mode Readable: iterating it pulls one message
  // at a time, and an error status is thrown from the iterator.
  return stream as AsyncIterable<Res>;
}
