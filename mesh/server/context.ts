import { ANONYMOUS, callerOf } from "../identity/spiffe";
import type { Span } from "@opentelemetry/api";
import type { CallContext, EndUser, ServerSurfaceCall } from "../api/call-context";
import type { Logger } from "../telemetry/logger";
import type { Metadata } from "@grpc/grpc-js";

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
