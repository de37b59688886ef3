import { AsyncResource } from "node:async_hooks";

/** Runs `fn(arg)` in the async context that was current when it was made. */
export type InCallerContext = <A, R>(fn: (arg: A) => R, arg: A) => R;

/**
 * The current async context, kept to run code in later (a write group commit runs for its
 * caller, a deferred statement's span): what `AsyncLocalStorage.snapshot()` gives, without its
 * cost. On Node 24 `snapshot()` is `AsyncResource.bind`, which defines deprecated accessors
 * (DEP0172) on every function it binds and leaves behind closures that young-generation
 * collections keep alive: a one-row write took about 10 % more CPU with it (median of ten
 * pairs, docs/BENCHMARKS.md, round 7). An AsyncResource of our own keeps the same context.
 */
export function callerContext(): InCallerContext {
  const resource = new AsyncResource("mesh.store");
  return (fn, arg) => resource.runInAsyncScope(fn, undefined, arg);
}
