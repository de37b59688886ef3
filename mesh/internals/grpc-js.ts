/**
 * The one place the mesh reaches into grpc-js's private structure: its `build/src` modules and
 * the fields of its call objects. grpc-js has no public way to these; each use says why it is
 * needed and degrades (returns undefined) instead of failing when a release moves them.
 * internals.test.ts fails with a clear message when that happens.
 */

import type {
  Server,
  ServerInterceptingCall,
  ServerInterceptingCallInterface,
  status as Status,
} from "@grpc/grpc-js";
import type { Http2Server, Http2Stream, SecureServerOptions, Settings } from "node:http2";

// How far down a chain of server interceptors the base call can be.
const MAX_CALL_DEPTH = 16;

/**
 * The HTTP/2 session a server call arrived on, following grpc-js's call chain (`call` →
 * `nextCall`… → `stream.session`, as in 1.10 to 1.14); undefined when that chain looks
 * different. identity/spiffe.ts keys a connection's peer identity on it.
 */
export function sessionOf(call: object): object | undefined {
  let inner = (call as { call?: unknown }).call;
  for (let depth = 0; inner && depth < MAX_CALL_DEPTH; depth++) {
    const stream = (inner as { stream?: { session?: object } }).stream;
    if (stream) return stream.session;
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/**
 * The HTTP/2 stream of a server call, or of the base call a server interceptor receives (same
 * chain as {@link sessionOf}); undefined when that chain looks different. server/inbound.ts
 * finds the stream's raw headers by it.
 */
export function streamOf(call: object): Http2Stream | undefined {
  let inner: unknown = call;
  for (let depth = 0; inner && depth < MAX_CALL_DEPTH; depth++) {
    const stream = (inner as { stream?: Http2Stream }).stream;
    if (stream) return stream;
    inner =
      (inner as { nextCall?: unknown; call?: unknown }).nextCall ??
      (inner as { call?: unknown }).call;
  }
  return undefined;
}

/**
 * The Node HTTP/2 servers a grpc-js Server listens with (its private `http2Servers` map, 1.10
 * to 1.14); empty when it has none or the field moved. grpc-js exposes neither them nor the
 * raw header list of a stream, which is the only place a repeated `authorization` shows (Node
 * keeps the first of a single-value header and drops the rest).
 */
export function http2ServersOf(server: Server): Http2Server[] {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  return servers instanceof Map ? [...servers.keys()] : [];
}

/**
 * Adds Node HTTP/2 session options to those a grpc-js Server creates its HTTP/2 servers with
 * (its private `commonServerOptions`, read at bind time, 1.10 to 1.14); grpc-js has no option
 * for the header limits. Call before binding. Returns false when the field is not there.
 */
export function addHttp2Options(
  server: Server,
  options: { maxHeaderListPairs?: number; settings?: Settings },
): boolean {
  const common = (server as unknown as { commonServerOptions?: SecureServerOptions })
    .commonServerOptions;
  if (typeof common !== "object" || common === null) return false;
  if (options.maxHeaderListPairs !== undefined) {
    common.maxHeaderListPairs = options.maxHeaderListPairs;
  }
  if (options.settings) common.settings = { ...common.settings, ...options.settings };
  return true;
}

/** A status as grpc-js's base server call sends it. */
export interface BaseStatus {
  code: Status;
  details: string;
  metadata?: unknown;
}

type SendStatus = (this: object, status: BaseStatus) => void;

/**
 * Makes an installer that passes every status the base call of a server call sends itself
 * through `refine` first: the statuses grpc-js makes without any interceptor seeing them (an
 * undecodable request, a bad `grpc-timeout`, a message that does not decompress). The installer
 * takes what the first server interceptor receives and returns false when it is not a base call
 * as in 1.10 to 1.14. It allocates nothing per call: every call gets the same function, made
 * once, as an own property (the base call's `this.sendStatus(...)` finds it before the
 * prototype's).
 */
export function baseStatusRefiner(
  refine: (status: BaseStatus) => BaseStatus,
): (call: object) => boolean {
  let original: SendStatus | undefined;
  let refined: SendStatus | undefined;
  return (call) => {
    const base = call as { sendStatus?: SendStatus; stream?: unknown };
    const send = base.sendStatus;
    if (typeof send !== "function" || !base.stream) return false;
    if (send === refined) return true;
    if (send !== original) {
      // grpc-js's prototype method, the same for every call: wrapped once.
      original = send;
      refined = function (this: object, status: BaseStatus) {
        send.call(this, refine(status));
      };
    }
    base.sendStatus = refined;
    return true;
  };
}

/**
 * The call a server interceptor received, returned as its result: the interceptor adds no
 * layer of its own (grpc-js's `ServerInterceptingCall` costs a responder, a listener and a
 * closure per step of every call). grpc-js types an interceptor's result as that class, but uses
 * only the call interface of whatever the chain returns (1.10 to 1.14).
 */
export function passThrough(call: ServerInterceptingCallInterface): ServerInterceptingCall {
  return call as ServerInterceptingCall;
}
