/**
 * Calling a method by name, from what reflection said about it. The files reflection sent
 * become two views: @grpc/proto-loader's package definition (loadFileDescriptorSetFromBuffer),
 * the service and method table grpc-js clients call by (path, streaming on either side); and
 * an @bufbuild/protobuf registry for the messages, because requests and responses are the
 * proto3 JSON mapping, as grpcurl's are (snake_case or lowerCamelCase names in, lowerCamelCase
 * out, Timestamps as RFC 3339, 64-bit integers as strings), which proto-loader's protobufjs
 * objects are not (a Timestamp comes out as {seconds, nanos}; snake_case names are ignored).
 */
import {
  Client,
  status,
  type CallOptions,
  type ClientReadableStream,
  type Metadata,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  create,
  type DescMessage,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import {
  loadFileDescriptorSetFromBuffer,
  type MethodDefinition,
  type PackageDefinition,
  type ServiceDefinition,
} from "@grpc/proto-loader";
import type { Connection } from "./connection";

/** The contracts a command learnt over reflection, in the two forms it uses. */
export interface Contracts {
  /** What grpc-js calls by: services and their methods. */
  definition: PackageDefinition;
  /** The messages, for the JSON mapping and `describe`. */
  registry: FileRegistry;
}

/** Both views of `files` (each after the files it imports). */
export function contractsOf(files: FileDescriptorProto[]): Contracts {
  const set = create(FileDescriptorSetSchema, { file: files });
  return {
    definition: loadFileDescriptorSetFromBuffer(
      Buffer.from(toBinary(FileDescriptorSetSchema, set)),
    ),
    registry: createFileRegistry(set),
  };
}

/** A service of the definition, or undefined when the name is not one. */
export function serviceOf(contracts: Contracts, name: string): ServiceDefinition | undefined {
  const found = contracts.definition[name];
  // Messages and enums carry a `format`; services are tables of methods.
  return found && !("format" in found) ? found : undefined;
}

/** `pkg.Service/Method` or `pkg.Service.Method`, split as grpcurl splits it. */
export function splitMethodName(name: string): { service: string; method: string } {
  const cut = name.includes("/") ? name.lastIndexOf("/") : name.lastIndexOf(".");
  const service = name.slice(0, cut);
  return {
    service: service.startsWith(".") ? service.slice(1) : service,
    method: name.slice(cut + 1),
  };
}

/** The call cannot be made as asked (grpcurl: "Error invoking method …"). */
export class InvokeError extends Error {}

/** What to call, with what. */
export interface CallRequest {
  connection: Connection;
  contracts: Contracts;
  /** `pkg.Service/Method`. */
  service: string;
  method: string;
  /** The request messages, as JSON values (from -d). */
  requests: JsonValue[];
  metadata: Metadata;
  deadline?: Date;
  /** Each response message, as grpcurl prints it (indented JSON). */
  onResponse: (json: string) => void;
}

/** How the call ended: OK, or its error status with the trailers. */
export type CallEnd = Pick<StatusObject, "code" | "details" | "metadata">;

/** The method's definition and message schemas; InvokeError when the server has no such method. */
function resolveMethod(
  contracts: Contracts,
  service: string,
  method: string,
): { definition: MethodDefinition<object, object>; input: DescMessage; output: DescMessage } {
  const table = serviceOf(contracts, service);
  if (!table) throw new InvokeError(`target server does not expose service "${service}"`);
  const definition = table[method];
  const desc = contracts.registry.getService(service)?.methods.find((m) => m.name === method);
  if (!definition || !desc)
    throw new InvokeError(`service "${service}" does not include a method named "${method}"`);
  return { definition, input: desc.input, output: desc.output };
}

/** Makes the call and reports each response; resolves with how it ended. */
export async function invoke(request: CallRequest): Promise<CallEnd> {
  const { contracts, service, method } = request;
  const { definition, input, output } = resolveMethod(contracts, service, method);
  const { registry } = contracts;
  const fullName = `${service}.${method}`;

  const messages = request.requests.map((json, i) => {
    try {
      return fromJson(input, json, { registry });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new InvokeError(`error getting request data: message ${i + 1}: ${reason}`);
    }
  });
  // A call that takes one message sends an empty one when there is no data, as grpcurl does.
  if (!definition.requestStream) {
    if (messages.length > 1)
      throw new InvokeError(
        `method "${fullName}" is a ${definition.responseStream ? "server-streaming" : "unary"} RPC, ` +
          "but request data contained more than 1 message",
      );
    if (messages.length === 0) messages.push(create(input));
  }

  const serialize = (message: Message): Buffer => Buffer.from(toBinary(input, message));
  const deserialize = (bytes: Buffer): Message => fromBinary(output, bytes);
  const print = (message: Message): void =>
    request.onResponse(JSON.stringify(toJson(output, message, { registry }), null, 2));
  const options: CallOptions = request.deadline ? { deadline: request.deadline } : {};
  const client = new Client(request.connection.address, request.connection.credentials, {
    channelOverride: request.connection.channel,
  });
  const { path } = definition;
  const ok: CallEnd = { code: status.OK, details: "", metadata: request.metadata.clone() };

  try {
    if (!definition.requestStream && !definition.responseStream) {
      return await new Promise<CallEnd>((resolve) => {
        client.makeUnaryRequest(
          path,
          serialize,
          deserialize,
          messages[0],
          request.metadata,
          options,
          (err, response) => {
            if (err) return resolve(err);
            if (response) print(response);
            resolve(ok);
          },
        );
      });
    }
    if (!definition.responseStream) {
      return await new Promise<CallEnd>((resolve) => {
        const call = client.makeClientStreamRequest(
          path,
          serialize,
          deserialize,
          request.metadata,
          options,
          (err, response) => {
            if (err) return resolve(err);
            if (response) print(response);
            resolve(ok);
          },
        );
        for (const message of messages) call.write(message);
        call.end();
      });
    }
    if (definition.requestStream) {
      const call = client.makeBidiStreamRequest(
        path,
        serialize,
        deserialize,
        request.metadata,
        options,
      );
      for (const message of messages) call.write(message);
      call.end();
      return await readAll(call, print);
    }
    const call = client.makeServerStreamRequest(
      path,
      serialize,
      deserialize,
      messages[0],
      request.metadata,
      options,
    );
    return await readAll(call, print);
  } finally {
    client.close();
  }
}

/** Prints every message of a response stream; resolves once it ended, with its status. */
function readAll(
  stream: ClientReadableStream<Message>,
  print: (m: Message) => void,
): Promise<CallEnd> {
  return new Promise((resolve) => {
    let finalStatus: CallEnd | undefined;
    let ended = false;
    const settle = (): void => {
      if (finalStatus && ended) resolve(finalStatus);
    };
    stream.on("data", print);
    stream.on("status", (s: StatusObject) => {
      finalStatus = s;
      settle();
    });
    stream.on("end", () => {
      ended = true;
      settle();
    });
    // A failed stream emits "error" instead of "end".
    stream.on("error", (err: ServiceError) => {
      ended = true;
      finalStatus ??= err;
      settle();
    });
  });
}
