/**
 * `npm run grpc`'s command line, read as grpcurl reads its own (cmd/grpcurl/grpcurl.go): Go
 * flags (one dash or two, `-flag value` or `-flag=value`) that end at the first argument that
 * is not a flag, then `ADDRESS list [SERVICE]`, `ADDRESS describe [SYMBOL]` or
 * `ADDRESS METHOD`. The flags themselves go through node:util parseArgs (scripts/cli.ts).
 */
import { parseArgs } from "node:util";
import { usageError } from "../cli";

export const GRPC_USAGE = `usage: npm run -s grpc -- [flags] ADDRESS list [SERVICE]
       npm run -s grpc -- [flags] ADDRESS describe [SYMBOL]
       npm run -s grpc -- [flags] ADDRESS METHOD

For machines without grpcurl: the same flags, verbs, output and exit codes, for the subset
below. Everything it knows about the server comes from server reflection (no proto files).
(-s keeps npm's own banner out of the output.)

  ADDRESS             host:port of the server
  list                the services the server exposes; with SERVICE, its methods
  describe            every service, or SYMBOL: a service, method, message or enum
  METHOD              calls pkg.Service/Method (or pkg.Service.Method) with the -d
                      request and prints each response as JSON

Flags, before ADDRESS (one dash or two):
  -plaintext          no TLS
  -cacert FILE        the CA that signs the server's certificate (default: the system's)
  -cert FILE          a client certificate for mutual TLS, with -key
  -key FILE           the client certificate's private key, with -cert
  -authority NAME     the :authority sent, and with TLS the server name verified
                      (default: the host of ADDRESS)
  -d DATA             the request as JSON (proto3 JSON mapping); for a client stream,
                      several messages one after the other; @ reads them from stdin;
                      without -d a unary call sends an empty message
  -H 'NAME: VALUE'    a header, sent with the call and with the reflection requests;
                      repeat for more
  -max-time SECONDS   how long the whole command may take, reflection included; the
                      call's deadline (default: no limit)
  -h, -help           show this and exit

Exit codes, as grpcurl's: 0 success; 1 a failure outside the call (unreachable server,
unknown symbol, request JSON that does not fit the method); 2 a usage error; 64 + the gRPC
status code when the call fails (64 + 5 = 69 for NOT_FOUND).`;

const SCRIPT = { name: "grpc", usage: GRPC_USAGE };

const OPTIONS = {
  plaintext: { type: "boolean" },
  cacert: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  authority: { type: "string" },
  d: { type: "string" },
  H: { type: "string", multiple: true },
  "max-time": { type: "string" },
} as const;

const VALUE_FLAGS = new Set(
  Object.entries(OPTIONS)
    .filter(([, o]) => o.type === "string")
    .map(([name]) => name),
);

/** What to do, and how to reach the server. */
export interface GrpcCommand {
  address: string;
  /** `list`, `describe`, or a call of `symbol`. */
  verb: "list" | "describe" | "call";
  /** The service to list, the symbol to describe, or the method to call (pkg.Service/Method). */
  symbol?: string;
  plaintext: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  authority?: string;
  /** The -d text; `@` means stdin. */
  data?: string;
  /** -H headers, in order, names lower-cased. */
  headers: [string, string][];
  /** From -max-time; none when absent or 0. */
  maxTimeMs?: number;
  /** Said on stderr before anything runs, as grpcurl's "Warning: …" lines. */
  warnings: string[];
}

/**
 * Splits grpcurl-style arguments into the flags, rewritten for parseArgs as `--name` or
 * `--name=value`, and the arguments after them.
 */
function splitFlags(args: readonly string[]): { flags: string[]; rest: string[] } {
  const flags: string[] = [];
  let i = 0;
  while (i < args.length) {
    const arg = args[i];
    if (arg === "--") return { flags, rest: args.slice(i + 1) };
    const match = /^--?([^-=][^=]*)(=[\s\S]*)?$/.exec(arg);
    // Go's flag package stops at the first argument that is not a flag, and so does grpcurl.
    if (!match) break;
    const [, name, inline] = match;
    if (inline === undefined && VALUE_FLAGS.has(name) && i + 1 < args.length) {
      // The value is the next argument, whatever it looks like, as in Go.
      flags.push(`--${name}=${args[i + 1]}`);
      i += 2;
    } else {
      flags.push(`--${name}${inline ?? ""}`);
      i += 1;
    }
  }
  return { flags, rest: args.slice(i) };
}

/** parseArgs' message, with flags written the way grpcurl's users write them (-d, not --d). */
const goStyle = (message: string): string => message.replace(/'--([\w-]+)/g, "'-$1");

/** A -H value as [name, value]; grpcurl splits it at the first colon. */
function header(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon <= 0) usageError(SCRIPT, `-H: expected 'NAME: VALUE', got '${text}'`);
  return [text.slice(0, colon).trim().toLowerCase(), text.slice(colon + 1).trim()];
}

/** Reads the command line; does not return on -help or a usage error (exit 0 / exit 2). */
export function readGrpcCommand(args: readonly string[]): GrpcCommand {
  const { flags, rest } = splitFlags(args);
  if (flags.some((f) => f === "--help" || f === "--h")) {
    process.stdout.write(`${GRPC_USAGE}\n`);
    process.exit(0);
  }
  let values: ReturnType<
    typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>
  >["values"];
  try {
    ({ values } = parseArgs({ args: flags, options: OPTIONS, strict: true }));
  } catch (err) {
    usageError(SCRIPT, goStyle(err instanceof Error ? err.message : String(err)));
  }
  const warnings: string[] = [];

  const tls = !values.plaintext;
  if (values.cert !== undefined && !tls)
    usageError(SCRIPT, "The -cert argument can only be used with TLS.");
  if (values.key !== undefined && !tls)
    usageError(SCRIPT, "The -key argument can only be used with TLS.");
  if ((values.cert === undefined) !== (values.key === undefined))
    usageError(SCRIPT, "The -cert and -key arguments must be used together and both be present.");
  let maxTimeMs: number | undefined;
  if (values["max-time"] !== undefined) {
    const seconds = Number(values["max-time"]);
    if (values["max-time"].trim() === "" || !Number.isFinite(seconds))
      usageError(
        SCRIPT,
        `-max-time: expected seconds, such as 2 or 0.5, got "${values["max-time"]}"`,
      );
    if (seconds < 0) usageError(SCRIPT, "The -max-time argument must not be negative.");
    if (seconds > 0) maxTimeMs = seconds * 1000;
  }

  const [address, verbOrMethod, symbol, ...extra] = rest;
  if (address === undefined || verbOrMethod === undefined) usageError(SCRIPT, "Too few arguments.");
  if (address === "list" || address === "describe") usageError(SCRIPT, "No host:port specified.");
  const verb = verbOrMethod === "list" || verbOrMethod === "describe" ? verbOrMethod : "call";
  const after = rest.slice(1).find((arg) => arg.startsWith("-"));
  if (after !== undefined)
    usageError(
      SCRIPT,
      `${after} comes after the address: flags go before it, as grpcurl reads them.`,
    );
  if (extra.length > 0 || (verb === "call" && symbol !== undefined))
    usageError(SCRIPT, "Too many arguments.");
  if (verb !== "call" && values.d !== undefined)
    warnings.push("The -d argument is not used with 'list' or 'describe' verb.");

  return {
    address,
    verb,
    symbol: verb === "call" ? verbOrMethod : symbol,
    plaintext: values.plaintext === true,
    cacert: values.cacert,
    cert: values.cert,
    key: values.key,
    authority: values.authority,
    data: values.d,
    headers: (values.H ?? []).map(header),
    maxTimeMs,
    warnings,
  };
}
