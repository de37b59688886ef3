import {
  Server,
  ServerCredentials,
  type ServerOptions,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { AccessControl } from "./access";
import { loadDescriptors, type Descriptors } from "../config/descriptors";
import type { EndUserAuthenticator } from "../identity/end-user";
import type { FaultSource } from "./faults";
import { adaptUnary, CallLimit, tolerantDefinition, type UnaryHandler } from "./handler";
import { HealthRegistry, HealthService, ServingStatus } from "./health";
import { createInboundGuard, type InboundGuard } from "./inbound";
import type { Logger } from "../telemetry/logger";
import { createReflection, reflectionServices } from "./reflection";
import { adaptServerStream, type ServerStreamHandler } from "./streaming";
import type { Telemetry } from "../telemetry";
import type { LimitsConfig } from "../config/topology";

/** The handlers a generated ts-proto service definition asks for, as async functions. */
export type ServiceHandlers<S> = {
  [K in keyof S]: S[K] extends {
    requestStream: false;
    responseStream: false;
    requestDeserialize: (bytes: Buffer) => infer Req;
    responseSerialize: (value: infer Res) => Buffer;
  }
    ? UnaryHandler<Req, Res>
    : S[K] extends {
          requestStream: false;
          responseStream: true;
          requestDeserialize: (bytes: Buffer) => infer Req;
          responseSerialize: (value: infer Res) => Buffer;
        }
      ? ServerStreamHandler<Req, Res>
      : never;
};

/** Options for {@link createMeshServer}. */
export interface MeshServerOptions {
  /** Logger for the server and its handlers. */
  log: Logger;
  /** Contracts for reflection. Defaults to the project's `gen/descriptor-set.binpb`. */
  descriptors?: Descriptors;
  /** Credentials to listen with. Defaults to plaintext. */
  credentials?: ServerCredentials;
  /** How long in-flight calls may take to finish on shutdown. Defaults to 10 seconds. */
  shutdownGraceMs?: number;
  /**
   * mesh.yaml `limits`: handlers in flight before calls are shed, the pushback they carry,
   * and how long shutdown reports NOT_SERVING before it stops taking calls. Defaults to no
   * limit and no drain delay.
   */
  limits?: LimitsConfig;
  /**
   * Authorization and the per-caller rate limit, checked before every method's handler,
   * health and reflection included (access.ts). Defaults to none: every call is let through.
   */
  access?: AccessControl;
  /** Faults to inject into this server's calls (`watchFaults` in faults.ts). Defaults to none. */
  faults?: FaultSource;
  /**
   * Verifies the bearer token of calls that carry one and puts the end user on the context
   * (end-user.ts). Defaults to none: tokens are ignored and every call has no end user.
   */
  endUsers?: EndUserAuthenticator;
  /** Metrics, spans and per-call log lines for every handled method. Defaults to none. */
  telemetry?: Telemetry;
  /** Extra grpc-js server options, merged over the defaults below. */
  grpcOptions?: ServerOptions;
}

const DEFAULT_GRACE_MS = 10_000;
// gRPC C-core's hard limit on received metadata (grpc.max_metadata_size).
const DEFAULT_MAX_METADATA_SIZE = 16 * 1024;
// Far more than any client sends (C-core and grpc-js send 6 fields of their own).
const DEFAULT_MAX_METADATA_ENTRIES = 100;
/** The grpc-js options every mesh server starts from (the health listener's too). */
export const DEFAULT_SERVER_OPTIONS: ServerOptions = {
  // 4 MiB, the gRPC default, stated so that it is visible and changeable.
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.max_concurrent_streams": 1_000,
  // Accept the clients' keepalive pings (see client.ts) instead of answering GOAWAY.
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  // The server pings too, and closes a connection that does not answer: nghttp2 ends a
  // connection whose header field exceeds 64 KiB with a GOAWAY but never closes it, and a
  // C-core client then waits on its call until the deadline (test/integration/hostile-input.test.ts).
  "grpc.keepalive_time_ms": 5_000,
  "grpc.keepalive_timeout_ms": 5_000,
  // Channelz stays on here, though the mesh serves none of it: grpc-js 1.14 tracks a server's
  // sessions only with channelz on, and without that list forceShutdown() leaves open calls
  // running (server.test.ts, "cuts off a call that outlasts the grace period").
};

/** The inbound guard for mesh.yaml `limits` (metadata size and entries, with defaults). */
export function inboundGuardFor(limits: LimitsConfig | undefined): InboundGuard {
  return createInboundGuard({
    maxMetadataSize: limits?.maxMetadataSize ?? DEFAULT_MAX_METADATA_SIZE,
    maxMetadataEntries: limits?.maxMetadataEntries ?? DEFAULT_MAX_METADATA_ENTRIES,
  });
}

/** The grpc-js options for mesh.yaml's `limits.maxMessageSize` and `maxConcurrentStreams`. */
function limitOptions(limits: LimitsConfig | undefined): ServerOptions {
  const options: ServerOptions = {};
  if (!limits) return options;
  // A larger request answers RESOURCE_EXHAUSTED (grpc-js checks as it reads the message).
  if (limits.maxMessageSize) options["grpc.max_receive_message_length"] = limits.maxMessageSize;
  // Advertised in HTTP/2 SETTINGS: a client opens no more calls than this on one connection.
  if (limits.maxConcurrentStreams) {
    options["grpc.max_concurrent_streams"] = limits.maxConcurrentStreams;
  }
  return options;
}

/** A grpc-js server with health, reflection, error mapping and graceful shutdown. */
export interface MeshServer {
  /** Registers a service's handlers; it reports NOT_SERVING until {@link ready}. */
  addService<S extends ServiceDefinition>(definition: S, handlers: ServiceHandlers<S>): void;
  /** Binds an address such as `127.0.0.1:0`, resolving to the port bound. */
  listen(address: string): Promise<number>;
  /** Reports every service SERVING; call once the store is migrated. */
  ready(): void;
  /**
   * Drains: reports NOT_SERVING and keeps serving for `limits.drainDelay`, so that health
   * checkers stop sending calls; then sends GOAWAY (grpc-js clients move new calls to other
   * instances), lets in-flight calls finish, and forces the rest after the grace.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Handlers running now. */
  readonly inFlight: number;
  /** Handlers started since the server started. */
  readonly callsStarted: number;
  readonly health: HealthRegistry;
  readonly grpcServer: Server;
}

/** Creates a {@link MeshServer}; add services, listen, then mark it ready. */
export function createMeshServer(options: MeshServerOptions): MeshServer {
  const { log } = options;
  const descriptors = options.descriptors ?? loadDescriptors();
  // Every call, health and reflection included, passes the inbound guard before anything else.
  const inbound = inboundGuardFor(options.limits);
  const grpcServer = new Server({
    ...DEFAULT_SERVER_OPTIONS,
    ...limitOptions(options.limits),
    ...options.grpcOptions,
    interceptors: [inbound.interceptor, ...(options.grpcOptions?.interceptors ?? [])],
  });
  inbound.prepare(grpcServer);
  const health = new HealthRegistry();
  const serviceNames: string[] = [];
  const limit = new CallLimit(options.limits?.maxConcurrentCalls, options.limits?.pushback);
  const drainDelayMs = options.limits?.drainDelay ?? 0;
  let shuttingDown: Promise<void> | undefined;

  const stop = (graceMs: number): Promise<void> =>
    new Promise<void>((resolve) => {
      // Watch streams never end by themselves; close them so that draining can finish.
      health.close();
      const force = setTimeout(() => {
        log.warn({ graceMs }, "calls still running after the grace period; forcing shutdown");
        grpcServer.forceShutdown();
      }, graceMs);
      grpcServer.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });

  const register = (definition: ServiceDefinition, impl: UntypedServiceImplementation): void => {
    const name = Object.values(definition)[0].path.split("/")[1];
    serviceNames.push(name);
    grpcServer.addService(definition, options.access?.guardService(definition, impl) ?? impl);
  };

  register(HealthService, health.implementation);
  for (const definition of reflectionServices) {
    register(
      tolerantDefinition(definition),
      createReflection(descriptors, () => [...serviceNames]),
    );
  }
  health.set("", ServingStatus.NOT_SERVING);

  return {
    health,
    grpcServer,
    get inFlight() {
      return limit.inFlight;
    },
    get callsStarted() {
      return limit.started;
    },

    addService(definition, handlers) {
      const impl: UntypedServiceImplementation = {};
      for (const [key, method] of Object.entries(definition)) {
        const handler = (handlers as Record<string, UnaryHandler<unknown, unknown>>)[key];
        if (typeof handler !== "function") throw new Error(`no handler for ${method.path}`);
        const typeName = descriptors.method(method.path)?.input.typeName ?? "request";
        if (method.requestStream) {
          throw new Error(`${method.path}: client and bidi streams are not supported`);
        }
        if (method.responseStream) {
          // Long-lived streams are not counted against the concurrency limit, nor faulted.
          impl[key] = adaptServerStream(
            method.path,
            typeName,
            handler as unknown as ServerStreamHandler<unknown, unknown>,
            log,
            options.endUsers,
            options.telemetry?.serverMethod(method.path, "server_stream"),
          );
          continue;
        }
        impl[key] = adaptUnary(method.path, typeName, handler, log, {
          limit,
          faults: options.faults?.slot(method.path),
          endUsers: options.endUsers,
          probe: options.telemetry?.serverMethod(method.path, "unary"),
        });
      }
      register(tolerantDefinition(definition), impl);
      health.set(Object.values(definition)[0].path.split("/")[1], ServingStatus.NOT_SERVING);
    },

    listen(address) {
      return new Promise((resolve, reject) => {
        grpcServer.bindAsync(
          address,
          options.credentials ?? ServerCredentials.createInsecure(),
          (err, port) => {
            if (err) return reject(err);
            inbound.watch(grpcServer);
            resolve(port);
          },
        );
      });
    },

    ready() {
      if (!shuttingDown) health.setAll(ServingStatus.SERVING);
    },

    shutdown(
      graceMs = options.shutdownGraceMs ?? options.limits?.shutdownGrace ?? DEFAULT_GRACE_MS,
    ) {
      if (shuttingDown) return shuttingDown;
      health.setAll(ServingStatus.NOT_SERVING);
      if (drainDelayMs <= 0) return (shuttingDown = stop(graceMs));
      log.info({ drainDelayMs, inFlight: limit.inFlight }, "draining: NOT_SERVING, still serving");
      // Until the checkers have seen NOT_SERVING, calls keep coming and are served as usual.
      return (shuttingDown = new Promise<void>((resolve) => setTimeout(resolve, drainDelayMs)).then(
        () => stop(graceMs),
      ));
    },
  };
}
