import {
  status,
  type ServiceDefinition,
  type StatusObject,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "../api/call-context";
import { pushbackStatus } from "./handler";
import { ANONYMOUS, callerOf, spiffeId } from "../identity/spiffe";
import type { Logger } from "../telemetry/logger";
import { ANY_IDENTITY, type SecurityConfig } from "../config/security";
import type { LimitsConfig } from "../config/topology";

/** Options for {@link createAccessControl}. */
export interface AccessControlOptions {
  /** Who may call what (`security.allow`, `operators`) and whether there are identities. */
  security: SecurityConfig;
  /** `perCaller` turns the per-identity rate limit on; `pushback` is what it answers with. */
  limits?: LimitsConfig;
  /** Denials are logged here at warn level. */
  log: Logger;
}

/** Wraps every method of a service with the checks a call passes before its handler. */
export interface AccessControl {
  guardService(
    definition: ServiceDefinition,
    impl: UntypedServiceImplementation,
  ): UntypedServiceImplementation;
  /** The SPIFFE ids that may call `path` (`/package.Service/Method`); "*" for anyone. */
  allowedCallers(path: string): ReadonlySet<string>;
}

/** A refusal, or null to let the call through. */
type Check = (call: ServerSurfaceCall) => Partial<StatusObject> | null;

/**
 * Authorization, default deny, and a token bucket per caller identity. Each method's set of
 * allowed SPIFFE ids is worked out once, when its service is registered: the operators, plus
 * the services `security.allow` lists for the method or its service. Per call: read the
 * caller's id from its TLS connection, one Set lookup, and (when `limits.perCaller` is set)
 * one bucket update. In plaintext mode there are no identities: nothing is authorized by
 * identity, and every caller shares the "anonymous" bucket.
 */
export function createAccessControl(options: AccessControlOptions): AccessControl {
  const { security, log } = options;
  const id = (name: string): string => spiffeId(security.trustDomain, { kind: "service", name });
  const ownDomain = `spiffe://${security.trustDomain}/`;
  const operators = security.operators.map((name) =>
    spiffeId(security.trustDomain, { kind: "operator", name }),
  );
  const rateLimit = options.limits?.perCaller
    ? createCallerBuckets(options.limits.perCaller, options.limits.pushback)
    : undefined;

  const allowedCallers = (path: string): ReadonlySet<string> => {
    const [, service] = path.split("/");
    const callers = [...(security.allow[service] ?? []), ...(security.allow[path.slice(1)] ?? [])];
    if (callers.includes(ANY_IDENTITY)) return new Set([ANY_IDENTITY]);
    return new Set([...operators, ...callers.map(id)]);
  };

  const checkFor = (path: string): Check | undefined => {
    if (security.mode === "plaintext") {
      return rateLimit && ((): Partial<StatusObject> | null => rateLimit(ANONYMOUS));
    }
    const allowed = allowedCallers(path);
    const anyone = allowed.has(ANY_IDENTITY);
    return (call) => {
      const caller = callerOf(call);
      // "*" is any identity of this trust domain; callerOf has checked the id's shape.
      const admitted = anyone ? caller?.startsWith(ownDomain) : allowed.has(caller ?? "");
      if (caller === undefined || !admitted) {
        log.warn({ caller: caller ?? "no SPIFFE id", method: path }, "permission denied");
        return {
          code: status.PERMISSION_DENIED,
          details: `${caller ?? "a caller with no SPIFFE id"} may not call ${path} (security.allow)`,
        };
      }
      return rateLimit ? rateLimit(caller) : null;
    };
  };

  return {
    allowedCallers,
    guardService(definition, impl) {
      const guarded: UntypedServiceImplementation = {};
      for (const [key, method] of Object.entries(definition)) {
        const check = checkFor(method.path);
        guarded[key] = check ? guard(impl[key], check, method.responseStream) : impl[key];
      }
      return guarded;
    },
  };
}

/**
 * Runs `check` before `handler`: a refusal goes to the callback (unary and client-streaming
 * calls) or ends the stream (server-streaming and bidi calls).
 */
function guard(handler: UntypedHandleCall, check: Check, streams: boolean): UntypedHandleCall {
  const next = handler as (call: ServerSurfaceCall, callback?: unknown) => void;
  if (streams) {
    return ((call: ServerSurfaceCall) => {
      const refusal = check(call);
      if (refusal) call.emit("error", refusal);
      else next(call);
    }) as UntypedHandleCall;
  }
  return ((call: ServerSurfaceCall, callback: (error: Partial<StatusObject>) => void) => {
    const refusal = check(call);
    if (refusal) callback(refusal);
    else next(call, callback);
  }) as UntypedHandleCall;
}

/**
 * A token bucket per caller: `rate` tokens a second up to `burst`; a call takes one, and a
 * caller with none left is refused with RESOURCE_EXHAUSTED and the server's pushback.
 */
function createCallerBuckets(
  { rate, burst }: { rate: number; burst: number },
  pushbackMs: number,
): (caller: string) => Partial<StatusObject> | null {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const perMs = rate / 1_000;
  const refusal = pushbackStatus(
    `rate limit: more than ${rate} calls a second from this caller (limits.perCaller); retry after ${pushbackMs} ms`,
    pushbackMs,
  );
  return (caller) => {
    const now = performance.now();
    let bucket = buckets.get(caller);
    if (!bucket) buckets.set(caller, (bucket = { tokens: burst, at: now }));
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens < 1) return refusal;
    bucket.tokens -= 1;
    return null;
  };
}
