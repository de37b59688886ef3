/**
 * How every script reads its command line: `node:util` parseArgs in strict mode, plus the
 * conventions of command-line tools. `--help` (or `-h`) prints the usage on stdout and exits 0
 * before the script does anything; an unknown flag, a missing value or a bad one prints what
 * is wrong, naming the flag, and the usage on stderr, and exits 2 (getopt's and Go's flag
 * package's exit code for a usage error).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** What a script accepts. */
export interface ScriptFlags<O extends Options> {
  /** The script's name in messages, for example "loadtest". */
  name: string;
  /** The full usage text, starting with "usage: …", one line per flag. */
  usage: string;
  /** Its flags, in parseArgs' form; `help` is added. */
  options: O;
  /** Whether it takes arguments that are not flags. Defaults to false. */
  positionals?: boolean;
}

/** The exit code of a command-line usage error. */
export const USAGE_EXIT_CODE = 2;

type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>
>;

/** Prints `message` and the usage on stderr and exits 2. */
export function usageError(script: { name: string; usage: string }, message: string): never {
  process.stderr.write(`${script.name}: ${message}\n\n${script.usage}\n`);
  process.exit(USAGE_EXIT_CODE);
}

/** Whether `args` ask for help (before a `--` that ends the flags). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/**
 * Parses `args` (the process's by default) against `script`'s flags. Does not return when
 * they ask for help or are wrong (see the module comment).
 */
export function readFlags<const O extends Options>(
  script: ScriptFlags<O>,
  args: string[] = process.argv.slice(2),
): Parsed<O> {
  if (wantsHelp(args)) {
    process.stdout.write(`${script.usage}\n`);
    process.exit(0);
  }
  try {
    return parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>({
      args,
      options: script.options,
      allowPositionals: script.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    return usageError(script, err instanceof Error ? err.message : String(err));
  }
}

/** A flag's value as a number greater than zero, or a usage error naming the flag. */
export function positiveNumber(
  script: { name: string; usage: string },
  flag: string,
  raw: string | undefined,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || value <= 0)
    usageError(script, `--${flag}: expected a number above 0, got "${raw}"`);
  return value;
}

/** A flag's value as a whole number of at least 0 (a seed, say), or a usage error naming it. */
export function wholeNumber(
  script: { name: string; usage: string },
  flag: string,
  raw: string | undefined,
  fallback: number,
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isSafeInteger(value) || value < 0)
    usageError(script, `--${flag}: expected a whole number of at least 0, got "${raw}"`);
  return value;
}
