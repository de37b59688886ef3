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
  type ServiceHandlers,
} from "../../mesh";
import { DEFAULT_SCRYPT, hashPassword, verifyPassword, type ScryptParams } from "./passwords";
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
}

export const MAX_PASSWORD = 128;
export const MIN_PASSWORD = 8;
const MAX_EMAIL = 254;
const DEFAULT_TTL_SECONDS = 3_600;
// One answer for every failed login, so that it tells nobody which emails exist.
const LOGIN_FAILED = "email or password is wrong";

/** The AuthService handlers: passwords in, signed access tokens out. */
export function createAuthService(
  deps: AuthServiceDeps,
): ServiceHandlers<typeof AuthServiceService> {
  const { store, key } = deps;
  const ttl = deps.tokenTtlSeconds ?? DEFAULT_TTL_SECONDS;
  const now = deps.now ?? (() => new Date());
  // An unknown email is checked against this, so that it takes as long as a wrong password.
  const decoy = hashPassword("not a password of anyone", deps.scrypt ?? DEFAULT_SCRYPT);

  return {
    async login(request) {
      const v = new Validator();
      v.string(request.email, "email", { max: MAX_EMAIL });
      v.string(request.password, "password", { max: MAX_PASSWORD });
      v.done();

      const credentials = await store.credentials(request.email.toLowerCase());
      const hash = credentials?.passwordHash ?? (await decoy);
      const matches = await verifyPassword(request.password, hash);
      if (!credentials?.passwordHash || !matches) {
        throw new StatusError(status.UNAUTHENTICATED, LOGIN_FAILED);
      }

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
