import type {
  Metadata,
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { ANONYMOUS, callerOf } from "./identity/spiffe";
import type { EndUser } from "./end-user";
import type { Span } from "@opentelemetry/api";
import type { Logger } from "./logger";

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

/**
 * The context of one incoming call. The AbortSignal is made only when a handler asks for it,
 * so calls that never look at it pay nothing for it.
 */
export class ServerCallContext implements CallContext {
  private controller: AbortController | undefined;
  private logger: Logger | undefined;
  private callerId: string | undefined;
  /** Set by the end-user authenticator (end-user.ts) before the handler runs. */
  endUser: EndUser | null = null;
  /** Set by the method's telemetry probe when the call starts (see telemetry/server-probe.ts). */
  span: Span | undefined = undefined;
  startedAt = 0;

  constructor(
    readonly call: ServerSurfaceCall,
    readonly method: string,
    private readonly baseLog: Logger,
  ) {}

  get metadata(): Metadata {
    return this.call.metadata;
  }

  get deadline(): number {
    const deadline = this.call.getDeadline();
    return deadline instanceof Date ? deadline.getTime() : deadline;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.call.cancelled) controller.abort();
      // Every kind of server call is an EventEmitter that emits "cancelled".
      else (this.call as NodeJS.EventEmitter).once("cancelled", () => controller.abort());
    }
    return this.controller.signal;
  }

  // Read from the TLS connection only when asked for.
  get caller(): string {
    return (this.callerId ??= callerOf(this.call) ?? ANONYMOUS);
  }

  get log(): Logger {
    return (this.logger ??= this.baseLog.child(
      this.span
        ? {
            method: this.method,
            caller: this.caller,
            // OTel's log data model names (trace_id, span_id), so logs join their traces.
            trace_id: this.span.spanContext().traceId,
            span_id: this.span.spanContext().spanId,
          }
        : { method: this.method, caller: this.caller },
    ));
  }
}
