import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import type { AuthServiceService } from "../../gen/shop/users/v1/auth";
import {
  StatusError,
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_TYPE,
  Validator,
  type CallContext,
  type ServiceHandlers,
} from "../../mesh";
import { ANONYMOUS, callerServiceOf } from "../../mesh/identity";
import { createLoginGuard, type LoginGuard } from "./login-guard";
import {
  DEFAULT_SCRYPT,
  deriveOnThreadPool,
  hashPassword,
  verifyPassword,
  type Derive,
  type ScryptParams,
} from "./passwords";
import type { SigningKey } from "./signing-key";
import type { UsersStore } from "./store";

/** Dependencies of the auth service. */
export interface AuthServiceDeps {
  store: UsersStore;
  key: SigningKey;
  /** How long a token is accepted. Defaults to 1 hour. */
  tokenTtlSeconds?: number;
  /** Cost of the hash an unknown email is checked against. Defaults to DEFAULT_SCRYPT. */
  scrypt?: ScryptParams;
  /** Defaults to the system clock. */
  now?: () => Date;
  /** Where password keys are derived. Defaults to the libuv pool; main.ts gives worker threads. */
  derive?: Derive;
  /** Failed logins per client address and account. Defaults to createLoginGuard()'s limits. */
  guard?: LoginGuard;
  /**
   * A failed or refused login answers no sooner than this after it arrived (as
   * pam_faildelay does), so a flood of wrong passwords waits instead of spinning. Defaults to
   * 250 ms.
   */
  failureDelayMs?: number;
}

export const MAX_PASSWORD = 128;
export const MIN_PASSWORD = 8;
const MAX_EMAIL = 254;
const DEFAULT_TTL_SECONDS = 3_600;
// One answer for every failed login, so that it tells nobody which emails exist.
const LOGIN_FAILED = "email or password is wrong";
const DEFAULT_FAILURE_DELAY_MS = 250;
/** The header an edge client (the REST gateway) names its own client's address in. */
export const FORWARDED_FOR = "x-forwarded-for";

/**
 * Who is logging in, for the per-address limit: the end client's address as an edge client
 * (the gateway, `security.clients`) relays it, else the connection's peer. In plaintext mode
 * nobody can be told apart, so a relayed address is believed (one more reason for the warning).
 */
export function clientAddressOf(context: CallContext): string {
  const relayed = context.metadata.get(FORWARDED_FOR)[0];
  const fromEdge = context.caller === ANONYMOUS || callerServiceOf(context) === null;
  if (fromEdge && typeof relayed === "string" && relayed !== "") return relayed;
  // grpc-js: "ipv4:127.0.0.1:51234" or "127.0.0.1:51234"; the port changes per connection.
  const peer = context.call.getPeer().replace(/^ipv[46]:/, "");
  return peer.slice(0, peer.lastIndexOf(":")) || peer;
}

/** The AuthService handlers: passwords in, signed access tokens out. */
export function createAuthService(
  deps: AuthServiceDeps,
): ServiceHandlers<typeof AuthServiceService> {
  const { store, key } = deps;
  const ttl = deps.tokenTtlSeconds ?? DEFAULT_TTL_SECONDS;
  const now = deps.now ?? (() => new Date());
  const derive = deps.derive ?? deriveOnThreadPool;
  const guard = deps.guard ?? createLoginGuard();
  const failureDelayMs = deps.failureDelayMs ?? DEFAULT_FAILURE_DELAY_MS;
  // An unknown email is checked against this, so that it takes as long as a wrong password.
  // Hashed by the first login rather than at start, so that a users process nobody logs in to
  // hashes nothing (no worker thread started); every login waits for it, known email or not,
  // so that the first login takes as long either way. A failed hash is tried again next time.
  let decoyPromise: Promise<string> | undefined;
  const decoyHash = (): Promise<string> =>
    (decoyPromise ??= hashPassword(
      "not a password of anyone",
      deps.scrypt ?? DEFAULT_SCRYPT,
      derive,
    ).catch((err: unknown) => {
      decoyPromise = undefined;
      throw err;
    }));
  /** Waits out the failure delay from `arrived`, then throws `error`. */
  const fail = async (arrived: number, error: StatusError): Promise<never> => {
    const left = arrived + failureDelayMs - Date.now();
    if (left > 0) await sleep(left);
    throw error;
  };

  return {
    async login(request, context) {
      const arrived = Date.now();
      const v = new Validator();
      v.string(request.email, "email", { max: MAX_EMAIL });
      v.string(request.password, "password", { max: MAX_PASSWORD });
      v.done();

      const account = request.email.toLowerCase();
      const address = clientAddressOf(context);
      const retryAfter = guard.admit(address, account);
      if (retryAfter > 0) {
        return fail(
          arrived,
          new StatusError(
            status.RESOURCE_EXHAUSTED,
            `too many failed logins; retry after ${retryAfter} s`,
            [],
            // A negative pushback tells gRFC A6 clients not to retry at all (the mesh's
            // policy retries RESOURCE_EXHAUSTED otherwise); Retry-After says when to.
            { "retry-after": String(retryAfter), "grpc-retry-pushback-ms": "-1" },
          ),
        );
      }
      const decoy = await decoyHash();
      const credentials = await store.credentials(account);
      const hash = credentials?.passwordHash ?? decoy;
      // The call's signal: a hash still queued when the deadline passes is not computed.
      const matches = await verifyPassword(request.password, hash, derive, context.signal);
      if (!credentials?.passwordHash || !matches) {
        return fail(arrived, new StatusError(status.UNAUTHENTICATED, LOGIN_FAILED));
      }

      guard.succeeded(address, account);
      const issuedAt = Math.floor(now().getTime() / 1000);
      const accessToken = await new SignJWT({})
        .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: TOKEN_TYPE, kid: key.kid })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setSubject(credentials.userId)
        .setIssuedAt(issuedAt)
        .setExpirationTime(issuedAt + ttl)
        .sign(key.privateKey);
      return {
        accessToken,
        tokenType: "Bearer",
        expireTime: new Date((issuedAt + ttl) * 1000),
        userId: credentials.userId,
      };
    },
  };
}
