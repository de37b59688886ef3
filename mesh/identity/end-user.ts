import { Metadata, status } from "@grpc/grpc-js";
import type { CallContext, EndUser } from "../api/call-context";
import { StatusError } from "../api/errors";
import { TokenError, type TokenVerifier } from "./tokens";

/** The metadata key that carries `Bearer <token>`. */
export const AUTHORIZATION = "authorization";
const BEARER = /^Bearer ([A-Za-z0-9_.-]+)$/;

/** What the authenticator reads and sets on a call's context (server/context.ts has one). */
export interface AuthenticatedContext {
  readonly metadata: Metadata;
  endUser: EndUser | null;
}

/** Verifies the caller's bearer token, if any, once per call. */
export interface EndUserAuthenticator {
  /**
   * Puts the end user on the context when the call carries `authorization`; returns undefined
   * (nothing to wait for) when it does not. Rejects with UNAUTHENTICATED for a bad token.
   */
  authenticate(context: AuthenticatedContext): Promise<void> | undefined;
}

const unauthenticated = (reason: string): StatusError =>
  new StatusError(status.UNAUTHENTICATED, `authorization: ${reason}`);

/** An {@link EndUserAuthenticator} checking tokens with `verify` (see tokens.ts). */
export function createEndUserAuthenticator(verify: TokenVerifier): EndUserAuthenticator {
  const check = async (context: AuthenticatedContext, header: unknown): Promise<void> => {
    const match = typeof header === "string" ? BEARER.exec(header) : null;
    if (!match) throw unauthenticated('expected "Bearer <token>"');
    try {
      context.endUser = { userId: await verify(match[1]), authorization: header as string };
    } catch (err) {
      if (err instanceof TokenError) throw unauthenticated(err.message);
      throw err;
    }
  };
  return {
    authenticate(context) {
      const values = context.metadata.get(AUTHORIZATION);
      if (values.length === 0) return undefined;
      if (values.length > 1) return Promise.reject(unauthenticated("sent more than once"));
      return check(context, values[0]);
    },
  };
}

/**
 * The metadata of a call made while serving `parent`: the caller's own, plus the end user's
 * `authorization`, so that the end user's identity travels with every downstream call.
 * Metadata the caller passes is copied before it is added to, never changed.
 */
export function outgoingMetadata(metadata: Metadata | undefined, parent?: CallContext): Metadata {
  const endUser = parent?.endUser;
  if (!endUser) return metadata ?? new Metadata();
  if (metadata?.get(AUTHORIZATION).length) return metadata;
  const out = metadata ? metadata.clone() : new Metadata();
  out.set(AUTHORIZATION, endUser.authorization);
  return out;
}
