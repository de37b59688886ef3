import { randomPool } from "./random";

// Crockford's base32, as ULID uses (https://github.com/ulid/spec).
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

// The last id's time and random digits: ids made in the same millisecond (or while the clock
// steps back) reuse that time and count the random part up by one, so that ids made by this
// process sort in the order they were made (the spec's "monotonic" ULIDs).
let lastTime = -1;
const lastRandom: number[] = new Array<number>(RANDOM_CHARS).fill(0);

function freshRandom(): void {
  const { bytes } = randomPool;
  const at = randomPool.take(RANDOM_CHARS);
  // The first digit stays below 16 so that counting up cannot overflow in practice.
  for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = bytes[at + i] % (i === 0 ? 16 : 32);
}

function countUp(): void {
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    if (++lastRandom[i] < 32) return;
    lastRandom[i] = 0;
  }
}

/**
 * A new id such as `usr_01JDX3…`: the prefix, then a ULID (48-bit millisecond time and 80
 * random bits), so ids sort by creation time, in the order this process made them, and
 * never collide in practice.
 */
export function newId(prefix: string, now = Date.now()): string {
  if (now > lastTime) {
    lastTime = now;
    freshRandom();
  } else {
    countUp();
  }
  let time = "";
  for (let i = 0, t = lastTime; i < TIME_CHARS; i++, t = Math.floor(t / 32)) {
    time = ALPHABET[t % 32] + time;
  }
  let random = "";
  for (const digit of lastRandom) random += ALPHABET[digit];
  return `${prefix}_${time}${random}`;
}

/** Matches ids made by {@link newId} with this prefix. */
export const idPattern = (prefix: string): RegExp =>
  new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);
