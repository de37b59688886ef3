import { readFileSync } from "node:fs";
import { exposeGc } from "./idle-gc";
import { mallocTrimAddon, releaseFreedMemory } from "./malloc-trim";

const MB = 1_048_576;

/** Resident bytes of glibc's main arena, `[heap]` in /proc/self/smaps. */
function arenaResident(): number {
  const smaps = readFileSync("/proc/self/smaps", "utf8");
  const start = smaps.indexOf(" [heap]\n");
  if (start < 0) return 0;
  const kb = /^Rss:\s+(\d+) kB$/m.exec(smaps.slice(start))?.[1];
  return Number(kb) * 1_024;
}

/** Whether this Node runs on glibc (the report names its version only there). */
const glibc =
  (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header
    ?.glibcVersionRuntime !== undefined;

describe("releaseFreedMemory (native/malloc_trim.c)", () => {
  (process.platform === "linux" ? it : it.skip)("is compiled by npm install and loads", () => {
    expect(mallocTrimAddon()).not.toBeNull();
  });

  (glibc ? it : it.skip)(
    "gives back the arena pages a burst of buffers left free between the ones still held",
    () => {
      // 48 MB of 16 KB buffers (under glibc's mmap threshold: they live in the main arena);
      // every eighth is kept, so the freed ones are holes glibc does not return by itself.
      const kept: Buffer[] = [];
      let burst: Buffer[] = [];
      for (let i = 0; i < 3_072; i++) {
        const buffer = Buffer.allocUnsafeSlow(16 * 1_024).fill(i);
        (i % 8 === 0 ? kept : burst).push(buffer);
      }
      burst = [];
      void burst;
      exposeGc()({ type: "major", flavor: "last-resort" });
      const before = arenaResident();
      expect(releaseFreedMemory()).toBe(true);
      const after = arenaResident();
      expect(before - after).toBeGreaterThan(20 * MB);
      expect(kept.every((buffer, i) => buffer[0] === (i * 8) % 256)).toBe(true);
    },
  );
});
