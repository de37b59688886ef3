/**
 * `npm run -s grpc -- [flags] ADDRESS list|describe|METHOD`: a grpcurl-compatible subset for
 * machines without grpcurl (`--help` lists what it takes). Same flags, verbs, output and exit
 * codes as grpcurl (https://github.com/fullstorydev/grpcurl), so a command printed for one
 * runs with the other; everything it knows about the server comes from server reflection.
 */
import { readFileSync } from "node:fs";
import { Metadata, status } from "@grpc/grpc-js";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { create, toJson, type JsonValue } from "@bufbuild/protobuf";
import { Status } from "../gen/google/rpc/status";
import { usageError } from "./cli";
import { connect, TlsConfigError, type Connection } from "./grpc/connection";
import { describeSymbol } from "./grpc/describe";
import { GRPC_USAGE, readGrpcCommand, type GrpcCommand } from "./grpc/flags";
import {
  contractsOf,
  invoke,
  InvokeError,
  serviceOf,
  splitMethodName,
  type CallEnd,
} from "./grpc/invoke";
import { createReflection, NotFoundError, type Reflection } from "./grpc/reflection";
import { jsonMessages, RequestDataError } from "./grpc/request-data";
import { exitCodeOf, rpcErrorText, statusText } from "./grpc/status-text";

/** A failure outside the call: grpcurl prints "<what>: <why>" and exits 1. */
class Failure extends Error {}

// The mesh's own name for it (mesh/error-details.ts) is not imported: the mesh's entry loads
// the whole library, and a command-line tool should start quickly.
const STATUS_DETAILS_KEY = "grpc-status-details-bin";

const out = (text: string): void => void process.stdout.write(`${text}\n`);

/** What an error from a reflection request or the channel says, as grpc-go would say it. */
function reason(err: unknown): string {
  const e = err as { code?: number; details?: string; message?: string };
  return typeof e.code === "number" && e.details !== undefined
    ? rpcErrorText(e.code, e.details)
    : String(e.message ?? err);
}

/** grpc-js's reason for a refused connection, without its empty resolver note. */
const dialError = (err: unknown): string =>
  String((err as { details?: string }).details)
    .replace(/\.?\s*Resolution note:\s*$/, "")
    .trim();

/** Runs `what` against the server; turns a refused connection into grpcurl's dial failure. */
async function asking<T>(address: string, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof InvokeError || err instanceof Failure) throw err;
    if ((err as { code?: number }).code === status.UNAVAILABLE)
      throw new Failure(`Failed to dial target host "${address}": ${dialError(err)}`);
    throw new Failure(`${what}: ${reason(err)}`);
  }
}

function metadataOf(command: GrpcCommand): Metadata {
  const metadata = new Metadata();
  for (const [name, value] of command.headers) {
    try {
      // Binary headers (-bin) are base64 on the command line, as grpcurl takes them.
      metadata.add(name, name.endsWith("-bin") ? Buffer.from(value, "base64") : value);
    } catch (err) {
      usageError({ name: "grpc", usage: GRPC_USAGE }, `-H '${name}: …': ${(err as Error).message}`);
    }
  }
  return metadata;
}

async function list(command: GrpcCommand, reflection: Reflection): Promise<void> {
  const { address, symbol } = command;
  if (symbol === undefined) {
    const services = await asking(address, "Failed to list services", () =>
      reflection.listServices(),
    );
    out(services.length === 0 ? "(No services)" : services.join("\n"));
    return;
  }
  const what = `Failed to list methods for service "${symbol}"`;
  const files = await asking(address, what, () =>
    reflection.filesFor(symbol).catch((err: unknown) => {
      throw err instanceof NotFoundError
        ? new Failure(`${what}: Service not found: ${symbol}`)
        : err;
    }),
  );
  const service = serviceOf(contractsOf(files), symbol);
  if (!service) throw new Failure(`${what}: Service not found: ${symbol}`);
  const methods = Object.keys(service).map((m) => `${symbol}.${m}`);
  out(methods.length === 0 ? "(No methods)" : methods.sort().join("\n"));
}

async function describe(command: GrpcCommand, reflection: Reflection): Promise<void> {
  const { address } = command;
  const symbols =
    command.symbol !== undefined
      ? [command.symbol]
      : await asking(address, "Failed to list services", () => reflection.listServices());
  for (const symbol of symbols) {
    const what = `Failed to resolve symbol "${symbol}"`;
    const files = await asking(address, what, () => reflection.filesFor(symbol));
    const text = describeSymbol(contractsOf(files).registry, symbol);
    if (text === undefined) throw new Failure(`${what}: Symbol not found: ${symbol}`);
    out(text);
  }
}

/** Each status detail (a google.protobuf.Any) as JSON, its type learnt over reflection. */
async function detailsOf(end: CallEnd, reflection: Reflection): Promise<string[]> {
  const [bytes] = end.metadata?.get(STATUS_DETAILS_KEY) ?? [];
  if (!(bytes instanceof Buffer)) return [];
  const details: string[] = [];
  for (const any of Status.decode(bytes).details) {
    const typeName = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
    let json: JsonValue;
    try {
      const { registry } = contractsOf(await reflection.filesFor(typeName));
      const fields = toJson(
        AnySchema,
        create(AnySchema, { typeUrl: any.typeUrl, value: any.value }),
        {
          registry,
        },
      ) as Record<string, JsonValue>;
      // "@type" first, as grpc-go's JSON puts it.
      json = { "@type": any.typeUrl, ...fields };
    } catch {
      // As grpcurl shows a detail whose type it cannot resolve.
      json = {
        "@type": any.typeUrl,
        "@error": `${typeName} is not recognized; see @value for raw binary message data`,
        "@value": Buffer.from(any.value).toString("base64"),
      };
    }
    details.push(JSON.stringify(json, null, 2));
  }
  return details;
}

/** Calls the method; returns the exit code (64 + the status code when it fails). */
async function call(
  command: GrpcCommand,
  connection: Connection,
  reflection: Reflection,
  deadline: Date | undefined,
): Promise<number> {
  const name = command.symbol as string;
  const what = `Error invoking method "${name}"`;
  const { service, method } = splitMethodName(name);
  try {
    const text = command.data === "@" ? readFileSync(0, "utf8") : (command.data ?? "");
    const requests = jsonMessages(text);
    const files = await asking(command.address, what, () =>
      reflection.filesFor(service).catch((err: unknown) => {
        throw err instanceof NotFoundError
          ? new InvokeError(`target server does not expose service "${service}"`)
          : err;
      }),
    );
    const end = await invoke({
      connection,
      contracts: contractsOf(files),
      service,
      method,
      requests,
      metadata: metadataOf(command),
      deadline,
      onResponse: out,
    });
    if (end.code !== status.OK)
      process.stderr.write(statusText(end.code, end.details, await detailsOf(end, reflection)));
    return exitCodeOf(end.code);
  } catch (err) {
    if (err instanceof InvokeError) throw new Failure(`${what}: ${err.message}`);
    if (err instanceof RequestDataError)
      throw new Failure(`${what}: error getting request data: ${err.message}`);
    throw err;
  }
}

async function main(args: string[]): Promise<number> {
  const command = readGrpcCommand(args);
  for (const warning of command.warnings) process.stderr.write(`Warning: ${warning}\n`);
  const deadline = command.maxTimeMs ? new Date(Date.now() + command.maxTimeMs) : undefined;
  let connection: Connection;
  try {
    // npm runs scripts from the project root; file names are the user's, from where they typed.
    connection = connect(command, process.env.INIT_CWD ?? process.cwd());
  } catch (err) {
    if (err instanceof TlsConfigError)
      throw new Failure(`Failed to create TLS config: ${err.message}`);
    throw new Failure(`Failed to dial target host "${command.address}": ${(err as Error).message}`);
  }
  // grpcurl sends the -H headers with the reflection requests too.
  const reflection = createReflection(connection, metadataOf(command), deadline);
  try {
    if (command.verb === "list") await list(command, reflection);
    else if (command.verb === "describe") await describe(command, reflection);
    else return await call(command, connection, reflection, deadline);
    return 0;
  } finally {
    reflection.close();
    connection.channel.close();
  }
}

// A reader that stops early (`| head`) closes the pipe; grpcurl dies of SIGPIPE quietly.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

// Node warns (DEP0123) whenever TLS is set up to an IP address, as grpc-js does for
// 127.0.0.1:50054; the output is the user's, and grpcurl prints nothing of the kind.
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Failure ? err.message : reason(err)}\n`);
    process.exitCode = 1;
  },
);
