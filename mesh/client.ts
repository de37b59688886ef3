import {
  Client,
  credentials as grpcCredentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceDefinition,
  type ServiceError,
} from "@grpc/grpc-js";
import type { CallContext } from "./context";
import { loadDescriptors, type Descriptors } from "./descriptors";
import { resolveMethodPolicy, serviceConfigFor } from "./policy";
import type { PolicyConfig } from "./topology";

/** Per-call options of a {@link Peer} method. */
export interface PeerCallOptions {
  /** The incoming call this one serves: its deadline caps ours, its cancellation cancels ours. */
  parent?: CallContext;
  /** Metadata to send. */
  metadata?: Metadata;
  /** Overrides the method policy's timeout (still capped by the parent's deadline). */
  timeoutMs?: number;
}

/** A promise-returning client for a generated service definition. */
export type Peer<S> = {
  [K in keyof S]: S[K] extends {
    requestSerialize: (value: infer Req) => Buffer;
    responseDeserialize: (bytes: Buffer) => infer Res;
  }
    ? (request: Req, options?: PeerCallOptions) => Promise<Res>
    : never;
} & {
  /** Closes the channel. */
  close(): void;
};

/** Options for {@link createPeer}. */
export interface PeerOptions {
  /** A grpc-js target: `host:port`, `ipv4:a:1,b:2`, or `dns:///name:port`. */
  target: string;
  /** Timeouts and retries; see policy.ts. */
  policy: PolicyConfig;
  /** Defaults to plaintext. */
  credentials?: ChannelCredentials;
  /** Defaults to the project's descriptor set. */
  descriptors?: Descriptors;
  /** Extra grpc-js channel options, merged over the defaults. */
  channelOptions?: ChannelOptions;
}

// Keepalive: find dead connections in about 40 s even when idle; the server permits this rate.
const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
// Reconnect to a restarted peer within seconds; grpc-js would back off up to 120 s.
const INITIAL_RECONNECT_BACKOFF_MS = 250;
const MAX_RECONNECT_BACKOFF_MS = 5_000;

/** An error shaped like the ones grpc-js returns, for calls refused before they start. */
function callError(code: status, details: string): ServiceError {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}

/**
 * One channel to one service, reused for every call, with a typed promise method per RPC.
 * Each call carries a deadline: the method's timeout, never later than the incoming call's
 * deadline, and a call whose budget is already spent fails at once with DEADLINE_EXCEEDED
 * (CANCELLED if the incoming call was cancelled) instead of starting. Retries and
 * throttling come from the service config (gRFC A6), built from the policy; grpc-js retries
 * only the methods the policy allows.
 */
export function createPeer<S extends ServiceDefinition>(
  definition: S,
  options: PeerOptions,
): Peer<S> {
  const descriptors = options.descriptors ?? loadDescriptors();
  const serviceName = Object.values(definition)[0].path.split("/")[1];
  const client = new Client(
    options.target,
    options.credentials ?? grpcCredentials.createInsecure(),
    {
      "grpc.service_config": JSON.stringify(
        serviceConfigFor(serviceName, options.policy, descriptors),
      ),
      "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
      "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": INITIAL_RECONNECT_BACKOFF_MS,
      "grpc.max_reconnect_backoff_ms": MAX_RECONNECT_BACKOFF_MS,
      ...options.channelOptions,
    },
  );

  const peer: Record<string, unknown> = { close: () => client.close() };
  for (const [key, method] of Object.entries(definition)) {
    const { timeoutMs } = resolveMethodPolicy(options.policy, method.path, descriptors);
    peer[key] = (request: unknown, callOptions: PeerCallOptions = {}) => {
      const parent = callOptions.parent;
      const now = Date.now();
      let deadline = now + (callOptions.timeoutMs ?? timeoutMs);
      if (parent && parent.deadline < deadline) deadline = parent.deadline;
      if (deadline <= now) {
        return Promise.reject(
          callError(status.DEADLINE_EXCEEDED, `no time left to call ${method.path}`),
        );
      }
      // grpc-js propagates a parent's cancellation only when it happens after the call starts
      // (it listens for "cancelled"), so a parent cancelled already is checked here.
      if (parent?.call.cancelled) {
        return Promise.reject(
          callError(
            status.CANCELLED,
            `the incoming call was cancelled; not calling ${method.path}`,
          ),
        );
      }
      return new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          callOptions.metadata ?? new Metadata(),
          // `parent` propagates the caller's cancellation (and deadline) to this call.
          parent ? { deadline, parent: parent.call } : { deadline },
          (err, response) => (err ? reject(err) : resolve(response)),
        );
      });
    };
  }
  return peer as Peer<S>;
}
