import { randomFillSync } from "node:crypto";

/**
 * A small seeded generator of numbers in [0, 1) (mulberry32), for load, fuzz and fault
 * decisions that must be the same on every run with the same seed. Not for secrets.
 */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Random bytes from the CSPRNG for ids (ULIDs, trace and span ids), drawn 4 KB at a time: a
 * draw of 16 bytes costs about 4 µs here, one of 4 KB about as much (Node's `randomUUID` caches
 * the same way). Each {@link RandomPool.take} hands out bytes nobody else got.
 */
class RandomPool {
  readonly bytes = Buffer.alloc(4_096);
  private at = this.bytes.length;

  /** The offset in {@link bytes} of `count` fresh bytes; read them before the next take. */
  take(count: number): number {
    if (this.at + count > this.bytes.length) {
      randomFillSync(this.bytes);
      this.at = 0;
    }
    const at = this.at;
    this.at += count;
    return at;
  }
}

/** The process's pool of random bytes for ids. */
export const randomPool = new RandomPool();
