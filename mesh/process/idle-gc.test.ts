import { getHeapStatistics } from "node:v8";
import { collectWhenIdle } from "./idle-gc";

const MB = 1_048_576;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Makes about `mb` MB of objects that live long enough to reach the old generation. */
async function garbage(mb: number): Promise<void> {
  let kept: string[][] = [];
  for (let i = 0; i < mb; i++) {
    kept.push(Array.from({ length: 8_000 }, (_, j) => `${i}:${j}:${"x".repeat(100)}`));
    // Yield so that scavenges run while the objects are still held: they get promoted.
    await sleep(0);
  }
  kept = [];
  void kept;
}

describe("collectWhenIdle", () => {
  it("collects a burst's garbage once the process goes idle, and says how much it freed", async () => {
    const freed: number[] = [];
    const stop = collectWhenIdle({ onCollect: (bytes) => freed.push(bytes), checkMs: 300 });
    try {
      const before = getHeapStatistics().used_heap_size;
      await garbage(40);
      expect(getHeapStatistics().used_heap_size - before).toBeGreaterThan(8 * MB);
      await sleep(1_500);
      expect(freed.length).toBeGreaterThanOrEqual(1);
      expect(Math.max(...freed)).toBeGreaterThan(8 * MB);
      expect(getHeapStatistics().used_heap_size - before).toBeLessThan(8 * MB);
    } finally {
      stop();
    }
  });

  it("leaves a busy process to V8: no collection while the event loop works", async () => {
    const freed: number[] = [];
    const stop = collectWhenIdle({ onCollect: (bytes) => freed.push(bytes), checkMs: 300 });
    try {
      await garbage(20);
      // Busy about half the time for 1.5 s: well over the idle share.
      const until = Date.now() + 1_500;
      while (Date.now() < until) {
        const spin = Date.now() + 10;
        while (Date.now() < spin);
        await sleep(10);
      }
      expect(freed).toEqual([]);
    } finally {
      stop();
    }
  });
});
