import { performance } from "node:perf_hooks";
import type { Span } from "@opentelemetry/api";
import {
  Client,
  credentials as grpcCredentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelInterface,
  type ChannelOptions,
  type InterceptingListener,
  type ServiceDefinition,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import {
  ADMITTED,
  createCircuitBreaker,
  REJECTED,
  type Admission,
  type BreakerView,
  type CircuitBreaker,
} from "./breaker";
import type { CallContext } from "../api/call-context";
import { meshBalancing, type BalancerObserver, type MeshBalancing } from "./balancer";
import { outgoingMetadata } from "../identity/end-user";
import { openServerStream, type StreamCallOptions } from "./server-stream";
import { loadDescriptors, type Descriptors } from "../config/descriptors";
import type { Logger } from "../telemetry/logger";
import { resolveMethodPolicy, serviceConfigFor } from "../config/policy";
import { meshServiceOf, type ClientMethodProbe, type Telemetry } from "../telemetry";
import type { PolicyConfig } from "../config/policy-schema";
import { markSafe, peerFailure } from "../api/errors";

/** Per-call options of a {@link Peer} method. */
export interface PeerCallOptions {
  /** The incoming call this one serves: its deadline caps ours, its cancellation cancels ours. */
  parent?: CallContext;
  /** Metadata to send. */
  metadata?: Metadata;
  /** Overrides the method policy's timeout (still capped by the parent's deadline). */
  timeoutMs?: number;
  /**
   * The span this call is made under when it serves no incoming gRPC call (`parent` wins):
   * the HTTP request's server span at the REST gateway.
   */
  span?: Span;
}

/** A promise-returning client for a generated service definition. */
export type Peer<S> = {
  [K in keyof S]: S[K] extends {
    responseStream: true;
    requestSerialize: (value: infer Req) => Buffer;
    responseDeserialize: (bytes: Buffer) => infer Res;
  }
    ? (request: Req, options?: StreamCallOptions) => AsyncIterable<Res>
    : S[K] extends {
          requestSerialize: (value: infer Req) => Buffer;
          responseDeserialize: (bytes: Buffer) => infer Res;
        }
      ? (request: Req, options?: PeerCallOptions) => Promise<Res>
      : never;
} & {
  /** Closes the channel. */
  close(): void;
  /** The peer's circuit breaker, when the policy has `circuitBreaker`: `peer.breaker?.state()`. */
  readonly breaker?: BreakerView;
};

/** Options for {@link createPeer}. */
export interface PeerOptions {
  /** A grpc-js target: `host:port`, `ipv4:a:1,b:2`, or `dns:///name:port`. */
  target: string;
  /** Timeouts, retries, hedging, outlier detection and the circuit breaker; see policy.ts. */
  policy: PolicyConfig;
  /** Defaults to plaintext. */
  credentials?: ChannelCredentials;
  /** Defaults to the project's descriptor set. */
  descriptors?: Descriptors;
  /** Extra grpc-js channel options, merged over the defaults. */
  channelOptions?: ChannelOptions;
  /**
   * At debug level, each call logs `{ method, budgetMs }` (its deadline less now); breaker
   * changes are logged too. Defaults to no logging.
   */
  log?: Logger;
  /**
   * Client metrics and spans per call (the call's `traceparent` goes out in its metadata),
   * the breaker's state and outlier ejections. Defaults to none.
   */
  telemetry?: Telemetry;
  /** The peer's mesh service name, label `peer`. Defaults to the package's second part
   * (`shop.payments.v1.PaymentService` → "payments"). */
  peerName?: string;
}

// Keepalive: find dead connections in about 40 s even when idle; the server permits this rate.
const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
// Reconnect to a restarted instance within a second of it listening again (issue 14: "takes
// calls within 1 s after SERVING"); grpc-js would back off up to 120 s. Attempts at a dead port
// on a reachable host are refused at once and cost nothing; to an unreachable one, each waits
// for its connect timeout (20 s), so this never becomes a storm.
const INITIAL_RECONNECT_BACKOFF_MS = 100;
// With grpc-js's ±20% jitter, at most 0.9 s between attempts.
const MAX_RECONNECT_BACKOFF_MS = 750;
// Shared by every call made without options, so that such calls allocate nothing for them.
const NO_OPTIONS: PeerCallOptions = Object.freeze({});

/**
 * An error shaped as grpc-js's Client shapes a failed call's (`callErrorFromStatus`): message
 * `<code> <NAME>: <details>`, and the status's code, details and metadata on it.
 */
function serviceError(outcome: StatusObject): ServiceError {
  return Object.assign(new Error(`${outcome.code} ${status[outcome.code]}: ${outcome.details}`), {
    code: outcome.code,
    details: outcome.details,
    metadata: outcome.metadata,
  });
}

/** The same, for calls refused before they start: the mesh's own text, fit to show. */
function callError(code: status, details: string): ServiceError {
  return markSafe(serviceError({ code, details, metadata: new Metadata() }));
}

const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** A call as grpc-js's channel runs it (grpc-js does not export the type by name). */
type ChannelCall = ReturnType<ChannelInterface["createCall"]>;

/** What every call of one unary method shares, worked out once in {@link createPeer}. */
interface UnaryMethod {
  readonly path: string;
  /** The peer's mesh service name, which a failure's message names. */
  readonly peer: string;
  readonly deserialize: (bytes: Buffer) => unknown;
  readonly breaker: CircuitBreaker | undefined;
  readonly probe: ClientMethodProbe | undefined;
  readonly log: Logger | undefined;
}

/**
 * One unary call in flight, and grpc-js's listener for it. It does for the call what grpc-js's
 * `Client.makeUnaryRequest` does (one response deserialized, a second or none refused as
 * UNIMPLEMENTED, an undecodable one as INTERNAL, any other status than OK a ServiceError), on
 * the channel's own `createCall`, without the Client's per-call layers: its interceptor chain
 * (a peer's Client has no interceptors), an EventEmitter per call, and a `new Error()` taken
 * at the start of every call so that a failure's stack can show the caller, which cost more
 * CPU per call than everything else the mesh adds to a call (docs/BENCHMARKS.md, section a).
 */
class UnaryCall implements InterceptingListener {
  call: ChannelCall | undefined = undefined;
  private response: unknown = undefined;
  private received = false;
  private readError: StatusObject | undefined = undefined;

  constructor(
    private readonly method: UnaryMethod,
    private resolve: ((response: unknown) => void) | undefined,
    private reject: ((err: ServiceError) => void) | undefined,
    private readonly admission: Admission,
    private span: Span | undefined,
    private readonly startedAt: number,
  ) {}

  onReceiveMetadata(): void {}

  onReceiveMessage(message: Buffer): void {
    if (this.received) {
      this.call?.cancelWithStatus(status.UNIMPLEMENTED, "Too many responses received");
      return;
    }
    this.received = true;
    try {
      this.response = this.method.deserialize(message);
    } catch (err) {
      const details = `Response message parsing error: ${errorMessage(err)}`;
      this.readError = { code: status.INTERNAL, details, metadata: new Metadata() };
      this.call?.cancelWithStatus(status.INTERNAL, details);
    }
  }

  onReceiveStatus(received: StatusObject): void {
    let outcome = this.readError ?? received;
    if (outcome.code === status.OK && !this.received) {
      outcome = {
        code: status.UNIMPLEMENTED,
        details: "No message received",
        metadata: outcome.metadata,
      };
    }
    if (outcome.code === status.OK) this.resolve?.(this.response);
    else this.reject?.(this.failure(outcome));
    // After settling: the caller's answer never waits on a breaker listener.
    const { breaker, probe } = this.method;
    breaker?.record(this.admission, outcome.code);
    if (this.span) probe?.end(this.span, this.startedAt, outcome.code);
    this.release();
  }

  /**
   * Lets go of the caller once the call has settled. grpc-js's call objects stay reachable
   * from their HTTP/2 stream until a full collection (docs/BENCHMARKS.md, round 15), and this
   * listener with them; without this, so would the caller's promise, the async function
   * awaiting it with everything it holds, and the span, all moved to the old generation with
   * the call.
   */
  private release(): void {
    this.resolve = undefined;
    this.reject = undefined;
    this.span = undefined;
    this.response = undefined;
    this.call = undefined;
  }

  /**
   * The error the caller gets: the peer's message when a mesh server wrote it, else one that
   * names no internals (grpc-js's text names addresses), with the text logged under the trace
   * id the message gives (errors.ts, peerFailure).
   */
  private failure(outcome: StatusObject): ServiceError {
    const { peer, path, log } = this.method;
    const traceId = this.span?.spanContext().traceId;
    const told = peerFailure(outcome.code, outcome.details, outcome.metadata, peer, traceId);
    if (told.raw !== undefined) {
      log?.warn(
        { peer, method: path, code: status[outcome.code], details: told.raw, trace_id: traceId },
        "call failed",
      );
    }
    return markSafe(serviceError({ ...outcome, details: told.details }));
  }
}

/**
 * What the peer's balancer reports: each ejection is counted (`mesh_outlier_ejections_total`)
 * and logged as a warning, with why and for how long; re-admissions and panic are logged.
 */
function ejectionObserver(
  serviceName: string,
  count: (() => void) | undefined,
  log: Logger | undefined,
): BalancerObserver {
  return {
    ejected({ address, durationMs, reason }) {
      count?.();
      log?.warn(
        { peer: serviceName, address, durationMs, reason },
        `ejected ${serviceName} instance ${address} for ${durationMs} ms: ${reason}`,
      );
    },
    readmitted(address, why) {
      log?.info(
        { peer: serviceName, address, why },
        `${serviceName} instance ${address} re-admitted`,
      );
    },
    panic(on) {
      if (on) {
        log?.warn(
          { peer: serviceName },
          `every reachable ${serviceName} instance is ejected: balancing over all of them (panic)`,
        );
      } else log?.info({ peer: serviceName }, `${serviceName} has a healthy instance again`);
    },
  };
}

/** Logs the breaker's changes: opening is worth a warning, the rest is information. */
function logBreaker(breaker: CircuitBreaker, serviceName: string, log: Logger): void {
  breaker.onStateChange((state, previous) => {
    const fields = { peer: serviceName, state, previous };
    if (state === "open") log.warn(fields, `circuit to ${serviceName} opened`);
    else log.info(fields, `circuit to ${serviceName} is ${state}`);
  });
}

/**
 * One channel to one service, reused for every call, with a typed promise method per RPC.
 * Each call carries a deadline: the method's timeout, never later than the incoming call's
 * deadline, and a call whose budget is already spent fails at once with DEADLINE_EXCEEDED
 * (CANCELLED if the incoming call was cancelled) instead of starting. Retries, hedging,
 * throttling come from the service config (gRFC A6), built from the policy; grpc-js retries
 * only the methods the policy allows. With `policy.outlierDetection`, the channel balances with
 * the mesh's own policy (balancer.ts: round robin, ejection on failures only, panic); without,
 * with grpc-js's round robin. With `policy.circuitBreaker`, calls fail at once with
 * UNAVAILABLE while the peer's circuit is open (see breaker.ts).
 *
 * Everything that depends only on the method is worked out here, once; a call allocates its
 * promise, its listener ({@link UnaryCall}) and the metadata grpc-js needs, and starts on the
 * channel directly (`createCall`), not through `Client.makeUnaryRequest`.
 *
 * @throws Error when the policy makes a service config grpc-js would not apply as written.
 */
export function createPeer<S extends ServiceDefinition>(
  definition: S,
  options: PeerOptions,
): Peer<S> {
  const descriptors = options.descriptors ?? loadDescriptors();
  const serviceName = Object.values(definition)[0].path.split("/")[1];
  const { log, telemetry } = options;
  const peerName = options.peerName ?? meshServiceOf(serviceName);
  const outliers = options.policy.outlierDetection;
  const balancing: MeshBalancing | undefined = outliers
    ? meshBalancing(
        outliers,
        ejectionObserver(serviceName, telemetry?.watchEjections(peerName), log),
      )
    : undefined;
  const client = new Client(
    options.target,
    options.credentials ?? grpcCredentials.createInsecure(),
    {
      "grpc.service_config": JSON.stringify(
        serviceConfigFor(serviceName, options.policy, descriptors, balancing?.config),
      ),
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": INITIAL_RECONNECT_BACKOFF_MS,
      "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
      // grpc-js keeps channelz counters and traces per call unless told not to; the mesh has
      // its own metrics and serves no channelz. (Servers keep it: see server.ts.)
      "grpc.enable_channelz": 0,
      ...options.channelOptions,
    },
  );
  // A call logs its budget only when the logger's level is at or below this one.
  const debugLevel = log?.levels.values.debug ?? 0;
  const breakerConfig = options.policy.circuitBreaker;
  const breaker = breakerConfig
    ? createCircuitBreaker({ name: serviceName, ...breakerConfig })
    : undefined;
  if (breaker && log) logBreaker(breaker, serviceName, log);
  if (telemetry && breaker) telemetry.watchBreaker(peerName, breaker);

  const channel = client.getChannel();
  const close = (): void => {
    client.close();
    balancing?.dispose();
  };
  const peer: Record<string, unknown> = { close, breaker };
  for (const [key, method] of Object.entries(definition)) {
    const { path, requestSerialize, responseDeserialize } = method;
    if (method.requestStream) throw new Error(`${path}: client and bidi streams are not supported`);
    if (method.responseStream) {
      // Streams are long-lived: no policy timeout, no retries, no breaker (see streaming.ts).
      peer[key] = (request: unknown, streamOptions?: StreamCallOptions) =>
        openServerStream(
          client,
          path,
          requestSerialize,
          responseDeserialize,
          request,
          streamOptions,
        );
      continue;
    }
    const { timeoutMs } = resolveMethodPolicy(options.policy, path, descriptors);
    const probe = telemetry?.clientMethod(peerName, path);
    const unary: UnaryMethod = {
      path,
      peer: peerName,
      deserialize: responseDeserialize,
      breaker,
      probe,
      log,
    };
    peer[key] = (request: unknown, callOptions: PeerCallOptions = NO_OPTIONS) => {
      const parent = callOptions.parent;
      const now = Date.now();
      let deadline = now + (callOptions.timeoutMs ?? timeoutMs);
      if (parent) deadline = Math.min(deadline, parent.deadline);
      if (deadline <= now) {
        return Promise.reject(callError(status.DEADLINE_EXCEEDED, `no time left to call ${path}`));
      }
      // grpc-js propagates a parent's cancellation only when it happens after the call starts
      // (it listens for "cancelled"), so a parent cancelled already is checked here.
      if (parent?.call.cancelled) {
        return Promise.reject(
          callError(status.CANCELLED, `the incoming call was cancelled; not calling ${path}`),
        );
      }
      let admission: Admission = ADMITTED;
      if (breaker) {
        admission = breaker.admit();
        if (admission === REJECTED) {
          // Counted as the caller sees it: fast UNAVAILABLEs are what an open circuit looks like.
          probe?.count(status.UNAVAILABLE);
          return Promise.reject(callError(status.UNAVAILABLE, breaker.rejectionDetails()));
        }
      }
      // A level check first, so that runs above debug build no log object at all.
      if (log && log.levelVal <= debugLevel) {
        log.debug({ method: path, budgetMs: deadline - now }, "calling");
      }
      // The end user's token goes on with the call (end-user.ts); the probe adds traceparent.
      const metadata = outgoingMetadata(callOptions.metadata, parent);
      const span = probe?.begin(parent?.span ?? callOptions.span, metadata);
      const startedAt = probe ? performance.now() : 0;
      return new Promise((resolve, reject) => {
        const listener = new UnaryCall(unary, resolve, reject, admission, span, startedAt);
        let call: ChannelCall;
        try {
          // As grpc-js's CallOptions `parent` does: the parent's cancellation (and deadline,
          // already in ours) propagates to this call (Propagate.DEFAULTS).
          call = channel.createCall(
            path,
            deadline,
            undefined,
            parent ? parent.call : null,
            undefined,
          );
        } catch (err) {
          // Never sent (a closed channel): a probe slot must not stay taken.
          breaker?.record(admission, status.CANCELLED);
          if (span) probe?.end(span, startedAt, status.CANCELLED);
          throw err;
        }
        listener.call = call;
        // In the order grpc-js's Client starts a unary call: start, read, the message, half-close.
        call.start(metadata, listener);
        call.startRead();
        let bytes: Buffer | undefined;
        try {
          bytes = requestSerialize(request);
        } catch (err) {
          call.cancelWithStatus(
            status.INTERNAL,
            `Request message serialization failure: ${errorMessage(err)}`,
          );
        }
        if (bytes) call.sendMessageWithContext({}, bytes);
        call.halfClose();
      });
    };
  }
  return peer as Peer<S>;
}
