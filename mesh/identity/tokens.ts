import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { createLocalJWKSet, errors as JoseErrors, JSONWebKeySet } from "jose";
import { idPattern } from "../api/ids";

/**
 * jose's verifier, evaluated when the first token is checked: a process that is never sent one
 * (a service called only by its peers) does not pay for it at start. It is bundled (the
 * members' bundles, scripts/bundle.mjs) rather than loaded from node_modules, whose 83 files
 * took users about 100 ms of its start and 6 MB (docs/BENCHMARKS.md, section f).
 */
const loadJose = (): Promise<typeof import("./jose-verify")> => import("./jose-verify");

/** The one signing algorithm: tokens signed any other way, `none` included, are refused. */
export const TOKEN_ALGORITHM = "EdDSA";
/** Who issues access tokens (the `iss` claim). */
export const TOKEN_ISSUER = "urn:grpc-shop-mesh:users";
/** Who access tokens are for (the `aud` claim): every service of the mesh. */
export const TOKEN_AUDIENCE = "urn:grpc-shop-mesh";
/** The `typ` header of an access token (RFC 9068), so no other JWT passes for one. */
export const TOKEN_TYPE = "at+jwt";
/** Skew tolerated between the issuer's clock and ours on `exp`, `nbf` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/** The public keys tokens are checked against: users writes them, every service reads them. */
export const jwksPath = (dataDir: string): string => join(dataDir, "users-jwks.json");

/** Where a verifier gets the key set; called again when a token names a key it does not have. */
export type JwksSource = () => Promise<JSONWebKeySet>;

/** A {@link JwksSource} reading the JSON file users publishes (see {@link jwksPath}). */
export const jwksFile =
  (file: string): JwksSource =>
  async () =>
    JSON.parse(await readFile(file, "utf8")) as JSONWebKeySet;

/** Why a token was refused; the message is safe to show the caller. */
export class TokenError extends Error {
  override readonly name = "TokenError";
}

/** Checks access tokens; resolves to the user id in `sub`. */
export type TokenVerifier = (token: string) => Promise<string>;

/** Options for {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  jwks: JwksSource;
  /** Least time between two reloads of the key set for an unknown key id. Defaults to 1 s. */
  reloadAfterMs?: number;
}

const USER_ID = idPattern("usr");

/**
 * Verifies access tokens as RFC 8725 asks: the algorithm is pinned to EdDSA (so `alg: none`
 * and HMAC-with-the-public-key confusions fail), `typ`, issuer, audience and expiry are
 * checked, and `sub` must be a user id. The key set is read once and kept, with its imported
 * keys (jose caches them per JWK); it is read again only when a token carries a key id it does
 * not know (users rotated its key), at most once per `reloadAfterMs`.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const reloadAfterMs = options.reloadAfterMs ?? 1_000;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let loadedAt = -Infinity;

  const load = async (): Promise<ReturnType<typeof createLocalJWKSet>> => {
    loadedAt = Date.now();
    const jose = await loadJose();
    try {
      keys = jose.createLocalJWKSet(await options.jwks());
    } catch {
      throw new TokenError("the token cannot be checked: the issuer's keys are not available");
    }
    return keys;
  };

  const verifyWith = async (
    keySet: ReturnType<typeof createLocalJWKSet>,
    token: string,
  ): Promise<string> => {
    const { jwtVerify } = await loadJose();
    const { payload } = await jwtVerify(token, keySet, {
      algorithms: [TOKEN_ALGORITHM],
      typ: TOKEN_TYPE,
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "exp", "iat"],
    });
    // jose checks `iat` only against a maxTokenAge; a token issued "later" than now (beyond the
    // skew allowed for clocks) was not issued by a working issuer, and would outlive its `exp`.
    const now = Math.floor(Date.now() / 1000);
    if (typeof payload.iat !== "number" || payload.iat > now + CLOCK_TOLERANCE_SECONDS) {
      throw new TokenError("the token's iat claim lies in the future");
    }
    if (typeof payload.sub !== "string" || !USER_ID.test(payload.sub)) {
      throw new TokenError("the token's subject is not a user id");
    }
    return payload.sub;
  };

  return async (token) => {
    try {
      try {
        return await verifyWith(keys ?? (await load()), token);
      } catch (err) {
        const stale = err instanceof (await loadJose()).errors.JWKSNoMatchingKey;
        if (!stale || Date.now() - loadedAt < reloadAfterMs) throw err;
        return await verifyWith(await load(), token);
      }
    } catch (err) {
      throw err instanceof TokenError
        ? err
        : new TokenError(describe(err, (await loadJose()).errors));
    }
  };
}

/** A short reason for the caller; never the token itself. */
function describe(err: unknown, errors: typeof JoseErrors): string {
  if (err instanceof errors.JWTExpired) return "the token has expired";
  if (err instanceof errors.JWTClaimValidationFailed) {
    return `the token's ${err.claim} claim is not accepted`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) {
    return `the token is not signed with ${TOKEN_ALGORITHM}`;
  }
  if (err instanceof errors.JWKSNoMatchingKey) return "the token's signing key is not known";
  if (err instanceof errors.JWSSignatureVerificationFailed) return "the token's signature is wrong";
  return "the token is malformed";
}
