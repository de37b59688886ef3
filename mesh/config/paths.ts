import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

let root: string | undefined;

/**
 * The native addon `npm install` compiles (native/malloc_trim.c), relative to the project
 * root; the image copies it there too. Loaded by mesh/process/malloc-trim.ts.
 */
export const MALLOC_TRIM_ADDON = "native/build/Release/malloc_trim.node";

/** The file that marks the project's root: it must be there at run time too (the image). */
export const ROOT_MARKER = "package.json";

/**
 * The project's root folder (the one holding package.json), found from this file whether it
 * runs from source (`mesh/`) or compiled (`dist/mesh/`).
 */
export function projectRoot(): string {
  if (root) return root;
  let dir = __dirname;
  while (!existsSync(join(dir, ROOT_MARKER))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no ${ROOT_MARKER} above ${__dirname}`);
    dir = parent;
  }
  return (root = dir);
}
