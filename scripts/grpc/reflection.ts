/**
 * The client side of server reflection
 * (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md), used as grpcurl uses
 * it: one ServerReflectionInfo stream, one question at a time; `grpc.reflection.v1`, or
 * `v1alpha` when the server answers UNIMPLEMENTED to v1 (grpcreflect.NewClientAuto).
 */
import { status, type CallOptions, type ClientDuplexStream, type Metadata } from "@grpc/grpc-js";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import * as v1 from "../../gen/grpc/reflection/v1/reflection";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection";
import type { Connection } from "./connection";

type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;
type Stream = ClientDuplexStream<Request, Response>;

/** A symbol or file the server does not know (its reflection answered an error). */
export class NotFoundError extends Error {}

/** Sends requests on one stream and hands out the answers in order. */
class Conversation {
  private readonly waiting: { resolve(r: Response): void; reject(e: Error): void }[] = [];
  private failure: Error | undefined;

  constructor(private readonly stream: Stream) {
    stream.on("data", (response: Response) => this.waiting.shift()?.resolve(response));
    stream.on("error", (err: Error) => this.fail(err));
    stream.on("end", () => this.fail(new Error("the server ended the reflection stream")));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  ask(request: Partial<Request>): Promise<Response> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write({ host: "", ...request });
    });
  }

  close(): void {
    this.stream.end();
  }
}

/** What the server says about its services, asked over reflection. */
export interface Reflection {
  /** The services the server exposes, sorted (grpcurl's `list`). */
  listServices(): Promise<string[]>;
  /**
   * The file that declares `symbol` and every file it imports, imports first; adds to what
   * earlier calls fetched. Throws NotFoundError when the server does not know the symbol.
   */
  filesFor(symbol: string): Promise<FileDescriptorProto[]>;
  close(): void;
}

/**
 * Reflection over `connection`, each request carrying `metadata` (grpcurl's -H headers) and,
 * when set, the `deadline`.
 */
export function createReflection(
  connection: Connection,
  metadata: Metadata,
  deadline?: Date,
): Reflection {
  const options: Partial<CallOptions> = deadline ? { deadline } : {};
  const open = (version: typeof v1 | typeof v1alpha): Conversation => {
    const client = new version.ServerReflectionClient(connection.address, connection.credentials, {
      channelOverride: connection.channel,
    });
    return new Conversation(client.serverReflectionInfo(metadata, options));
  };
  let conversation = open(v1);
  let first = true;
  const files = new Map<string, FileDescriptorProto>();

  const ask = async (request: Partial<Request>): Promise<Response> => {
    if (!first) return conversation.ask(request);
    first = false;
    try {
      return await conversation.ask(request);
    } catch (err) {
      if ((err as { code?: number }).code !== status.UNIMPLEMENTED) throw err;
      conversation = open(v1alpha);
      return conversation.ask(request);
    }
  };

  const absorb = async (response: Response, what: string): Promise<void> => {
    if (response.errorResponse)
      throw new NotFoundError(`${what} not found: ${response.errorResponse.errorMessage}`);
    for (const bytes of response.fileDescriptorResponse?.fileDescriptorProto ?? []) {
      const file = fromBinary(FileDescriptorProtoSchema, bytes);
      files.set(file.name, file);
    }
  };

  /** Every file in `files`, each after the files it imports. */
  const ordered = (): FileDescriptorProto[] => {
    const out: FileDescriptorProto[] = [];
    const visit = (file: FileDescriptorProto): void => {
      if (out.includes(file)) return;
      for (const dep of file.dependency) {
        const imported = files.get(dep);
        if (imported) visit(imported);
      }
      out.push(file);
    };
    files.forEach(visit);
    return out;
  };

  return {
    async listServices() {
      const response = await ask({ listServices: "" });
      if (response.errorResponse) throw new Error(response.errorResponse.errorMessage);
      return (response.listServicesResponse?.service ?? []).map((s) => s.name).sort();
    },

    async filesFor(symbol) {
      const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
      const response = await ask({ fileContainingSymbol: name });
      if (response.errorResponse) throw new NotFoundError(`Symbol not found: ${name}`);
      await absorb(response, `symbol ${name}`);
      // Servers usually send the imports along; fetch any that are missing, by name.
      for (let missing = unresolved(); missing.length > 0; missing = unresolved()) {
        for (const dep of missing) await absorb(await ask({ fileByFilename: dep }), `file ${dep}`);
      }
      return ordered();
    },

    close: () => conversation.close(),
  };

  function unresolved(): string[] {
    return [...files.values()].flatMap((f) => f.dependency).filter((dep) => !files.has(dep));
  }
}
