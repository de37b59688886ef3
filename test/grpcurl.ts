/**
 * What grpcurl does, enough to run the commands start:all prints exactly as printed (grpcurl
 * itself cannot be installed here): `-plaintext`, or TLS with `-cacert`, `-cert`, `-key` (and
 * `-authority`), verifying the server's name as grpcurl does; `-d` and `-H`. Everything it knows about the services
 * comes from server reflection, as grpcurl's does: list_services, then file_containing_symbol
 * and file_by_filename for every dependency. Requests and responses are protojson.
 */
import { readFileSync } from "node:fs";
import {
  Client,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
} from "@grpc/grpc-js";
import {
  create,
  createFileRegistry,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  type FileRegistry,
  type JsonValue,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import {
  ServerReflectionClient,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection";

/** What a grpcurl run printed and how it exited. */
export interface GrpcurlResult {
  /** 0 on success; otherwise 64 + the gRPC status code, as grpcurl exits. */
  exitCode: number;
  /** The response as JSON, the listing, or the description. */
  output: string;
  /** The error's code name and message, as grpcurl prints them, when it failed. */
  error?: { code: string; message: string };
}

/** Splits a shell command line the way a POSIX shell would for these commands (quotes, no expansion). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let match: RegExpExecArray | null;
  let current = "";
  let last = -1;
  while ((match = re.exec(line)) !== null) {
    const piece = match[1] ?? match[2]?.replace(/\\(.)/g, "$1") ?? match[3];
    if (last === match.index) current += piece;
    else {
      if (last !== -1) words.push(current);
      current = piece;
    }
    last = re.lastIndex;
  }
  if (last !== -1) words.push(current);
  return words;
}

/** One reflection stream: asks, and gathers every file the answers need. */
class Reflector {
  private readonly files = new Map<string, FileDescriptorProto>();

  constructor(private readonly client: ServerReflectionClient) {}

  private ask(request: Partial<ServerReflectionRequest>): Promise<ServerReflectionResponse> {
    return new Promise((resolve, reject) => {
      const stream = this.client.serverReflectionInfo();
      stream.once("data", (response: ServerReflectionResponse) => {
        stream.end();
        resolve(response);
      });
      stream.once("error", reject);
      stream.write({ host: "", ...request });
    });
  }

  async listServices(): Promise<string[]> {
    const response = await this.ask({ listServices: "" });
    return response.listServicesResponse?.service.map((s) => s.name) ?? [];
  }

  private async absorb(response: ServerReflectionResponse): Promise<void> {
    if (response.errorResponse) throw new Error(response.errorResponse.errorMessage);
    for (const bytes of response.fileDescriptorResponse?.fileDescriptorProto ?? []) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      this.files.set(file.name, file);
    }
    // Follow every dependency not yet seen, by name, until the set is closed.
    for (const file of [...this.files.values()]) {
      for (const dep of file.dependency) {
        if (!this.files.has(dep)) await this.absorb(await this.ask({ fileByFilename: dep }));
      }
    }
  }

  /** A registry of the file declaring `symbol` and everything it imports. */
  async registryFor(symbol: string): Promise<FileRegistry> {
    await this.absorb(await this.ask({ fileContainingSymbol: symbol }));
    // The registry wants every file after the files it imports.
    const ordered: FileDescriptorProto[] = [];
    const visit = (file: FileDescriptorProto): void => {
      if (ordered.includes(file)) return;
      for (const dep of file.dependency) visit(this.files.get(dep) as FileDescriptorProto);
      ordered.push(file);
    };
    this.files.forEach(visit);
    return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
  }
}

function describe(registry: FileRegistry, symbol: string): string {
  const service = registry.getService(symbol);
  if (service) {
    const methods = service.methods.map(
      (m) => `  rpc ${m.name} ( .${m.input.typeName} ) returns ( .${m.output.typeName} );`,
    );
    return `${symbol} is a service:\nservice ${service.name} {\n${methods.join("\n")}\n}`;
  }
  const dot = symbol.lastIndexOf(".");
  const method = registry
    .getService(symbol.slice(0, dot))
    ?.methods.find((m) => m.name === symbol.slice(dot + 1));
  if (method)
    return `${symbol} is a method:\nrpc ${method.name} ( .${method.input.typeName} ) returns ( .${method.output.typeName} );`;
  const message = registry.getMessage(symbol);
  if (message) {
    const fields = message.fields.map(
      (f) =>
        `  ${f.fieldKind === "message" ? `.${f.message.typeName}` : f.fieldKind} ${f.name} = ${f.number};`,
    );
    return `${symbol} is a message:\nmessage ${message.name} {\n${fields.join("\n")}\n}`;
  }
  throw new Error(`Symbol not found: ${symbol}`);
}

/** grpcurl's connection flags. */
interface ConnectionFlags {
  plaintext: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  authority?: string;
}

/** The channel grpcurl would open: plaintext, or TLS with the given files (system roots without -cacert). */
function channelFor(flags: ConnectionFlags): {
  creds: ChannelCredentials;
  options: ChannelOptions;
} {
  const options: ChannelOptions = {};
  if (flags.authority) {
    options["grpc.default_authority"] = flags.authority;
    if (!flags.plaintext) options["grpc.ssl_target_name_override"] = flags.authority;
  }
  if (flags.plaintext) return { creds: credentials.createInsecure(), options };
  if ((flags.cert === undefined) !== (flags.key === undefined))
    throw new Error("-cert and -key must be given together");
  const read = (file?: string): Buffer | null => (file ? readFileSync(file) : null);
  return {
    creds: credentials.createSsl(read(flags.cacert), read(flags.key), read(flags.cert)),
    options,
  };
}

const VALUE_FLAGS = ["cacert", "cert", "key", "authority"] as const;

/** Runs one grpcurl command line (`-plaintext` or TLS flags) against a live server. */
export async function grpcurl(commandLine: string, timeoutMs = 10_000): Promise<GrpcurlResult> {
  const words = shellWords(commandLine);
  if (words.shift() !== "grpcurl") throw new Error(`not a grpcurl command: ${commandLine}`);
  let data: string | undefined;
  const flags: ConnectionFlags = { plaintext: false };
  const positional: string[] = [];
  const metadata = new Metadata();
  while (words.length > 0) {
    const word = words.shift() as string;
    const valueFlag = VALUE_FLAGS.find((f) => word === `-${f}`);
    if (word === "-plaintext") flags.plaintext = true;
    else if (valueFlag) flags[valueFlag] = words.shift();
    else if (word === "-d") data = words.shift();
    else if (word === "-H") {
      // grpcurl's -H 'name: value': one header, sent with the call (not with reflection).
      const header = words.shift() ?? "";
      const colon = header.indexOf(":");
      if (colon <= 0) throw new Error(`-H expects "name: value", got ${header}`);
      metadata.add(header.slice(0, colon).trim().toLowerCase(), header.slice(colon + 1).trim());
    } else if (word.startsWith("-")) throw new Error(`flag ${word} is not supported here`);
    else positional.push(word);
  }
  const [address, verb, symbol] = positional;
  const { creds, options } = channelFor(flags);
  const reflector = new Reflector(new ServerReflectionClient(address, creds, options));

  if (verb === "list") {
    const services = await reflector.listServices();
    return { exitCode: 0, output: services.sort().join("\n") };
  }
  if (verb === "describe") {
    const registry = await reflector.registryFor(symbol);
    return { exitCode: 0, output: describe(registry, symbol) };
  }

  const [serviceName, methodName] = verb.split("/");
  const registry = await reflector.registryFor(serviceName);
  const method = registry.getService(serviceName)?.methods.find((m) => m.name === methodName);
  if (!method)
    throw new Error(`service "${serviceName}" does not include a method named "${methodName}"`);
  // Without -d, grpcurl sends one empty message.
  const request = fromJson(method.input, JSON.parse(data ?? "{}") as JsonValue, { registry });
  const client = new Client(address, creds, options);
  try {
    return await new Promise<GrpcurlResult>((resolve) => {
      client.makeUnaryRequest(
        `/${serviceName}/${methodName}`,
        (bytes: Buffer) => bytes,
        (bytes: Buffer) => bytes,
        Buffer.from(toBinary(method.input, request)),
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err, response) => {
          if (err) {
            const code = status[err.code];
            resolve({ exitCode: 64 + err.code, output: "", error: { code, message: err.details } });
          } else {
            const decoded = fromBinary(method.output, response as Buffer);
            resolve({
              exitCode: 0,
              output: JSON.stringify(toJson(method.output, decoded, { registry }), null, 2),
            });
          }
        },
      );
    });
  } finally {
    client.close();
  }
}
