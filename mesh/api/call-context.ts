import type {
  Metadata,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "../telemetry/logger";

/** The person a call is made for, proven by a verified access token. */
export interface EndUser {
  /** The token's `sub`: whose orders, payments and notifications the call may see. */
  readonly userId: string;
  /** The `authorization` value as received, forwarded unchanged on downstream calls. */
  readonly authorization: string;
}

/** Any incoming grpc-js call: what `parent` accepts in CallOptions. */
export type ServerSurfaceCall =
  | ServerUnaryCall<unknown, unknown>
  | ServerReadableStream<unknown, unknown>
  | ServerWritableStream<unknown, unknown>
  | ServerDuplexStream<unknown, unknown>;

/** What a handler knows about the call it is serving. */
export interface CallContext {
  /** Full method path, for example `/shop.users.v1.UserService/GetUser`. */
  readonly method: string;
  /** The caller's metadata. */
  readonly metadata: Metadata;
  /** When the caller stops waiting, in epoch milliseconds; `Infinity` when it set none. */
  readonly deadline: number;
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
  /** The grpc-js call, passed as `parent` so that deadline and cancellation propagate. */
  readonly call: ServerSurfaceCall;
  /**
   * Who is calling: the SPIFFE id of the caller's client certificate, such as
   * `spiffe://shop.local/service/orders`; "anonymous" in plaintext mode.
   */
  readonly caller: string;
  /** Logger labelled with the method and the caller (and the trace id, when traced). */
  readonly log: Logger;
  /** Who the call is made for: set from a verified bearer token, null without one. */
  readonly endUser: EndUser | null;
  /** The call's server span, when the server has telemetry: outgoing calls become its children. */
  readonly span?: Span;
}
