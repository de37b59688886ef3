import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deserialize, serialize } from "node:v8";
import { parse } from "yaml";

/**
 * `text` parsed as YAML; with `cacheDir`, through a cache of parsed documents in that folder,
 * each under the SHA-256 of its text. start:all's nine members parse the same mesh.yaml at
 * every start, about 20 ms of each one's CPU and 0.6 MB of its memory (yaml's parser, compiled
 * for that one use); a cached document is read back in well under a millisecond
 * (docs/BENCHMARKS.md, section f). Documents are stored with v8.serialize, which keeps what
 * JSON would not (YAML's `.inf` and `.nan`). A text that is not YAML throws as `parse` does
 * and is not cached; a folder that cannot be read or written is passed over.
 */
export function parseYamlCached(text: string, cacheDir?: string): unknown {
  if (!cacheDir) return parse(text);
  const file = join(cacheDir, `${createHash("sha256").update(text).digest("hex")}.v8`);
  try {
    return deserialize(readFileSync(file));
  } catch {
    // Not cached yet (or unreadable): parsed below.
  }
  const document: unknown = parse(text);
  try {
    mkdirSync(cacheDir, { recursive: true });
    // Written whole under another name, then renamed: a member starting meanwhile reads the
    // whole document or none.
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, serialize(document));
    renameSync(partial, file);
  } catch {
    // A read-only tree: every start parses.
  }
  return document;
}
