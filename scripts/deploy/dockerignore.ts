import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** One .dockerignore line: a pattern, and whether it is an exception (`!`). */
interface IgnoreRule {
  regex: RegExp;
  exception: boolean;
  /** The pattern's text, for deciding whether an excluded folder can hold exceptions. */
  pattern: string;
}

/** Go's filepath.Match plus Docker's `**` (any number of folders), as a RegExp. */
function patternRegex(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*" && pattern[i + 1] === "*") {
      // "**/" matches zero or more whole folders; a trailing "**" anything below.
      source += pattern[i + 2] === "/" ? "(?:.*/)?" : ".*";
      i += pattern[i + 2] === "/" ? 2 : 1;
    } else if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else source += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

/** Parses .dockerignore text (comments, blank lines, leading `/` and `./` dropped). */
export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exception = line.startsWith("!");
      const pattern = (exception ? line.slice(1) : line)
        .replace(/^(\.?\/)+/, "")
        .replace(/\/$/, "");
      return { regex: patternRegex(pattern), exception, pattern };
    });
}

/**
 * Whether Docker leaves `path` (relative, `/`-separated) out of the build context: the last
 * rule matching the path or one of its parent folders wins, as in moby's patternmatcher.
 */
export function isIgnored(rules: readonly IgnoreRule[], path: string): boolean {
  const parts = path.split("/");
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    if (prefixes.some((prefix) => rule.regex.test(prefix))) ignored = !rule.exception;
  }
  return ignored;
}

/** Whether some exception could re-include a path below the excluded folder `dir`. */
function mayHoldExceptions(rules: readonly IgnoreRule[], dir: string): boolean {
  return rules.some(
    (rule) => rule.exception && (rule.pattern.startsWith(`${dir}/`) || rule.pattern.includes("*")),
  );
}

/**
 * The files of the build context under `root`, relative and sorted, honouring its
 * .dockerignore. Excluded folders that no exception reaches into are not walked at all.
 */
export function contextFiles(root: string): string[] {
  const ignoreFile = join(root, ".dockerignore");
  const rules = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, "utf8")) : [];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!isIgnored(rules, path) || mayHoldExceptions(rules, path)) walk(path);
      } else if (!isIgnored(rules, path)) files.push(path);
    }
  };
  walk("");
  return files.sort();
}
