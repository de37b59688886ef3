/**
 * Hands the memory glibc's allocator holds free back to the system (`malloc_trim(0)`, from the
 * project's one native addon, native/malloc_trim.c, compiled by `npm install`).
 *
 * Buffers, TLS records and HTTP/2 frames live outside V8's heap, in glibc's main arena. When
 * a collection frees them, glibc keeps the pages for the next malloc, and gives back only what
 * sits at the very top of the arena: a burst leaves holes it never returns. After 10,000 fuzz
 * calls and an idle collection, members' JS heaps were back where they started but their
 * arenas (`[heap]` in /proc/PID/smaps) had grown from 6 to 17–40 MB; `malloc_trim(0)` took
 * each back to 7 MB, and the members' resident memory to within 3 MB of their start.
 */
import { createRequire } from "node:module";
import { join } from "node:path";
import { MALLOC_TRIM_ADDON, projectRoot } from "../config/paths";

interface Addon {
  trim(): boolean;
}

let addon: Addon | null | undefined;

/**
 * The addon, or null when it is not there (no C compiler at `npm install`) or cannot load;
 * looked for once.
 */
export function mallocTrimAddon(): Addon | null {
  if (addon !== undefined) return addon;
  try {
    addon = createRequire(__filename)(join(projectRoot(), MALLOC_TRIM_ADDON)) as Addon;
  } catch {
    addon = null;
  }
  return addon;
}

/**
 * `malloc_trim(0)`: true when pages went back to the system; false when none did, off glibc,
 * or without the addon.
 */
export function releaseFreedMemory(): boolean {
  return mallocTrimAddon()?.trim() ?? false;
}
