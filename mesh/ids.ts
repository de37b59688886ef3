import { randomBytes } from "node:crypto";

// Crockford's base32, as ULID uses (https://github.com/ulid/spec).
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

/**
 * A new id such as `usr_01JDX3…`: the prefix, then a ULID (48-bit millisecond time and 80
 * random bits), so ids sort by creation time and never collide in practice.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = "";
  for (let i = 0, t = now; i < TIME_CHARS; i++, t = Math.floor(t / 32))
    time = ALPHABET[t % 32] + time;
  const bytes = randomBytes(RANDOM_CHARS);
  let random = "";
  for (let i = 0; i < RANDOM_CHARS; i++) random += ALPHABET[bytes[i] % 32];
  return `${prefix}_${time}${random}`;
}

/** Matches ids made by {@link newId} with this prefix. */
export const idPattern = (prefix: string): RegExp =>
  new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);
