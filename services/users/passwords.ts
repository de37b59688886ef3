import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/** scrypt cost parameters, stored with every hash so that they can be raised later. */
export interface ScryptParams {
  /** CPU and memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/**
 * N = 2^15, r = 8, p = 1: 32 MiB and tens of milliseconds per hash. OWASP's password storage
 * cheat sheet asks for at least N = 2^17 with r = 8; raise N where memory allows (old hashes
 * keep verifying with the parameters stored beside them).
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const PREFIX = "scrypt";

/** Derives a password's key: on the libuv thread pool ({@link deriveOnThreadPool}) or elsewhere. */
/**
 * Derives a key. `signal`, when given, is the call's: a derivation still waiting when it
 * aborts may be dropped (hash-workers.ts does; the thread pool cannot take one back).
 */
export type Derive = (
  password: string,
  salt: Buffer,
  params: ScryptParams,
  signal?: AbortSignal,
) => Promise<Buffer>;

/**
 * Node's async scrypt, on the libuv thread pool. Fine for tests and tools; a server hashes on
 * its own worker threads instead (hash-workers.ts), as the pool is the SQLite driver's too.
 */
export const deriveOnThreadPool: Derive = (password, salt, params) => {
  // scrypt needs 128 · N · r bytes; Node refuses more than maxmem (32 MiB by default).
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFKC"), salt, KEY_BYTES, options, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
};

/** Hashes a password as `scrypt$N$r$p$<salt>$<key>` (base64url), with a fresh random salt. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_SCRYPT,
  derive: Derive = deriveOnThreadPool,
): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, params);
  return [PREFIX, params.N, params.r, params.p, salt, key]
    .map((part) => (part instanceof Buffer ? part.toString("base64url") : String(part)))
    .join("$");
}

/**
 * Whether `password` matches a hash made by {@link hashPassword}, compared in constant time.
 * A malformed hash matches nothing. `signal` is the caller's, passed on to `derive`.
 */
export async function verifyPassword(
  password: string,
  hash: string,
  derive: Derive = deriveOnThreadPool,
  signal?: AbortSignal,
): Promise<boolean> {
  const [prefix, N, r, p, salt, key] = hash.split("$");
  if (prefix !== PREFIX || key === undefined) return false;
  const expected = Buffer.from(key, "base64url");
  const actual = await derive(
    password,
    Buffer.from(salt, "base64url"),
    {
      N: Number(N),
      r: Number(r),
      p: Number(p),
    },
    signal,
  );
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
