/**
 * The one place the mesh reaches into grpc-js's private structure: its `build/src` modules and
 * the fields of its call objects. grpc-js has no public way to these; each use says why it is
 * needed and degrades (returns undefined) instead of failing when a release moves them.
 * internals.test.ts fails with a clear message when that happens.
 */

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
