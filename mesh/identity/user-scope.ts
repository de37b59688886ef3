import { status } from "@grpc/grpc-js";
import type { CallContext } from "../api/call-context";
import type { EndUser } from "../api/call-context";
import { StatusError } from "../api/errors";
import { ANONYMOUS } from "./spiffe";

/**
 * What a caller is taken to be when the transport cannot name it: in a plaintext mesh every
 * peer is taken to be a service of the mesh (there is no way to tell).
 */
export const PLAINTEXT_PEER = "plaintext-peer";

// Identities that relay end users from outside (the REST gateway): trusted to call, but a call
// of theirs without a bearer token is nobody's, not a service at work.
let edgeCallers: ReadonlySet<string> = new Set();

/** Names the SPIFFE ids of the mesh's edge clients (security.clients); set once at start-up. */
export function setEdgeCallers(ids: Iterable<string>): void {
  edgeCallers = new Set(ids);
}

/**
 * The identity of the service making the call, or null for a caller that acts for nobody in
 * the mesh: the SPIFFE id of the peer's certificate (mTLS), null for an edge client, and
 * {@link PLAINTEXT_PEER} in a plaintext mesh.
 */
export function callerServiceOf(context: CallContext): string | null {
  const caller = context.caller;
  if (caller === ANONYMOUS) return PLAINTEXT_PEER;
  return edgeCallers.has(caller) ? null : caller;
}

/**
 * The rule for user data (orders, payments, notifications): whose data a call may touch.
 *
 * - A call made for an end user (a verified bearer token) sees that user's data only, even
 *   when a service relays it: the token travels with every downstream call.
 * - A call without an end user is a service or operator at work (orders' recovery loop,
 *   notifications reading the event stream, seeding): it sees everyone's data, but only when
 *   the transport identifies the caller.
 * - Neither: UNAUTHENTICATED.
 *
 * @returns the user id the call is confined to, or null when it is not confined.
 */
export function userScope(endUser: EndUser | null, callerService: string | null): string | null {
  if (endUser) return endUser.userId;
  if (callerService !== null) return null;
  throw new StatusError(
    status.UNAUTHENTICATED,
    "authorization: a bearer token is required (authorization: Bearer <token from shop.users.v1.AuthService/Login>)",
  );
}

/** {@link userScope} for the call being served. */
export const scopeOf = (context: CallContext): string | null =>
  userScope(context.endUser ?? null, callerServiceOf(context));

/**
 * Refuses a call made for an end user with PERMISSION_DENIED: for methods that serve the
 * mesh's own services (event streams, listing every user), never people.
 */
export function serviceOnly(context: CallContext): void {
  if (scopeOf(context) !== null) {
    throw new StatusError(
      status.PERMISSION_DENIED,
      `${context.method} serves the mesh's services, not end users`,
    );
  }
}

/** Whether a record owned by `ownerId` is visible in `scope`. */
export const visibleIn = (scope: string | null, ownerId: string): boolean =>
  scope === null || scope === ownerId;

/**
 * The user a request acts for, given its `field` (a user id, or empty): a confined call may
 * leave it empty (meaning the end user) or name the end user, and naming anyone else is
 * PERMISSION_DENIED, whether or not that user exists (AIP-211: no answer tells it apart).
 */
export function actingUser(scope: string | null, requested: string, field: string): string {
  if (scope === null || requested === "" || requested === scope) return scope ?? requested;
  throw new StatusError(
    status.PERMISSION_DENIED,
    `${field}: may only be the user of the bearer token, or empty`,
  );
}
