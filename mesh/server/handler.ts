import {
  status,
  type handleUnaryCall,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceDefinition,
  type StatusObject,
} from "@grpc/grpc-js";
import type { CallContext } from "../api/call-context";
import { ServerCallContext } from "./context";
import type { EndUserAuthenticator } from "../identity/end-user";
import { ownMessageMetadata, toStatus } from "../api/errors";
import { injectFault, NO_FAULT, type FaultSlot } from "./faults";
import type { Logger } from "../telemetry/logger";
import type { ServerMethodProbe } from "../telemetry";

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
 * `definition` with every method's request deserializer made tolerant
 * ({@link tolerantDeserializer}): its handlers must expect a {@link MalformedRequest}.
 */
export function tolerantDefinition<S extends ServiceDefinition>(definition: S): S {
  const tolerant: Record<string, S[keyof S]> = {};
  for (const [key, method] of Object.entries(definition)) {
    tolerant[key] = {
      ...method,
      requestDeserialize: tolerantDeserializer(method.requestDeserialize),
    } as S[keyof S];
  }
  return tolerant as unknown as S;
}

/**
 * A RESOURCE_EXHAUSTED status telling the caller to wait `pushbackMs` before retrying, in the
 * `grpc-retry-pushback-ms` trailer (gRFC A6). Build it once: grpc-js copies its metadata.
 */
export function pushbackStatus(details: string, pushbackMs: number): Partial<StatusObject> {
  const metadata = ownMessageMetadata();
  metadata.set("grpc-retry-pushback-ms", String(Math.round(pushbackMs)));
  return { code: status.RESOURCE_EXHAUSTED, details, metadata };
}

/**
 * Handlers in flight on one server, shared by all its methods, and the limit past which a
 * call is shed at once with RESOURCE_EXHAUSTED and a `grpc-retry-pushback-ms` trailer, which
 * grpc-js and every gRFC A6 client wait for before retrying (if the code is retryable).
 */
export class CallLimit {
  /** Handlers running now. */
  inFlight = 0;
  /** Handlers started since the server started. */
  started = 0;
  /** The status a shed call gets; built once, as grpc-js copies its metadata when sending. */
  readonly shed: Partial<StatusObject>;

  /**
   * @param max handlers that may run at once. Defaults to no limit.
   * @param pushbackMs how long a shed caller is told to wait. Defaults to 100 ms.
   */
  constructor(
    readonly max = Infinity,
    readonly pushbackMs = 100,
  ) {
    this.shed = pushbackStatus(
      `server overloaded: ${max} calls in flight (limits.maxConcurrentCalls); retry after ${pushbackMs} ms`,
      pushbackMs,
    );
  }
}

/** What stands between a call and its handler; see {@link adaptUnary}. */
export interface CallGuards {
  /** Counts the server's calls in flight and sheds past its limit. Defaults to no limit. */
  limit?: CallLimit;
  /** The method's injected fault, read on every call. Defaults to none. */
  faults?: FaultSlot;
  /** Verifies a bearer token, when the call has one. Defaults to ignoring tokens. */
  endUsers?: EndUserAuthenticator;
  /**
   * The method's metrics, span and log line (telemetry/server-probe.ts). Calls answered by an
   * injected fault never reach the server's handling, so only the caller's metrics count them.
   * Defaults to none.
   */
  probe?: ServerMethodProbe;
}

/**
 * Adapts an async handler to grpc-js, once per method at registration. Per call it does only
 * what it must: check the request decoded, one null check for an injected fault, the
 * concurrency limit, build the context, and map a rejection to a status. A fault comes first,
 * as it stands for the network or a proxy in front of the server; a delayed call holds no
 * handler slot while it waits.
 */
export function adaptUnary<Req, Res>(
  method: string,
  typeName: string,
  handler: UnaryHandler<Req, Res>,
  log: Logger,
  guards: CallGuards = {},
): handleUnaryCall<Req, Res> {
  const limit = guards.limit ?? new CallLimit();
  const faults = guards.faults ?? NO_FAULT;
  const { endUsers, probe } = guards;
  // The handler as a call runs it: inside the method's span when there is telemetry.
  const invoke = probe
    ? (request: Req, context: ServerCallContext) => probe.run(handler, request, context)
    : handler;

  const serve = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    if (limit.inFlight >= limit.max) {
      callback(limit.shed);
      probe?.count(status.RESOURCE_EXHAUSTED);
      return;
    }
    limit.inFlight++;
    // Logged once per process: when a (re)started instance first takes traffic.
    if (limit.started++ === 0) log.info({ method }, "first call served");
    const context = new ServerCallContext(call, method, log);
    let pending: Promise<Res>;
    try {
      probe?.begin(context);
      // Only a call with a token waits for its check; the others go straight to the handler.
      const verifying = endUsers?.authenticate(context);
      pending = verifying
        ? verifying.then(() => invoke(call.request, context))
        : invoke(call.request, context);
    } catch (err) {
      // Whatever was thrown, Error or not, goes to the same mapping as a rejection.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      pending = Promise.reject(err);
    }
    // Every outcome passes through exactly one of these, so the count always comes back down.
    pending.then(
      (response) => {
        limit.inFlight--;
        callback(null, response);
        probe?.end(context, status.OK);
      },
      (err: unknown) => {
        limit.inFlight--;
        const answer = toStatus(err, method, log, context.span?.spanContext().traceId);
        callback(answer);
        probe?.end(context, answer.code ?? status.UNKNOWN);
      },
    );
  };

  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      callback({
        code: status.INVALID_ARGUMENT,
        details: `request: not a valid ${typeName} message (${request.reason})`,
      });
      probe?.count(status.INVALID_ARGUMENT);
      return;
    }
    const fault = faults.current;
    if (fault === null) serve(call, callback);
    else injectFault(fault, call, callback, serve);
  };
}
