import {
  status,
  type ServerDuplexStream,
  type StatusObject,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection";
import type { Descriptors } from "../config/descriptors";
import { MalformedRequest } from "./handler";

type Request = v1.ServerReflectionRequest;
// Longest name a request may carry: file names and symbols of the contracts are far shorter,
// and every one is echoed back (original_request, error messages).
const MAX_NAME = 1_024;
type Response = v1.ServerReflectionResponse;

/** The v1 and v1alpha reflection services (the same messages; grpcurl tries v1 first). */
export const reflectionServices = [
  v1.ServerReflectionService,
  v1alpha.ServerReflectionService,
] as const;

/**
 * Server reflection (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md) that
 * serves the descriptor set buf compiled, byte for byte. `@grpc/reflection` rebuilds
 * descriptors from proto-loader and drops imports and well-known types, so grpcurl cannot
 * describe such methods (grpc-node#3018, grpcurl#459).
 *
 * @param serviceNames what `list_services` answers: the services this server registered.
 */
export function createReflection(
  descriptors: Descriptors,
  serviceNames: () => string[],
): UntypedServiceImplementation {
  const answer = (request: Request): Response => {
    const response: Response = { validHost: request.host, originalRequest: request };
    const files = (file: ReturnType<Descriptors["fileByName"]>, what: string): Response => {
      if (!file) {
        response.errorResponse = { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` };
      } else {
        const protos = descriptors
          .withDependencies(file)
          .map((f) => Buffer.from(descriptors.encode(f)));
        response.fileDescriptorResponse = { fileDescriptorProto: protos };
      }
      return response;
    };

    if (request.listServices !== undefined) {
      response.listServicesResponse = { service: serviceNames().map((name) => ({ name })) };
    } else if (request.fileByFilename !== undefined) {
      return files(
        descriptors.fileByName(request.fileByFilename),
        `file ${request.fileByFilename}`,
      );
    } else if (request.fileContainingSymbol !== undefined) {
      const symbol = request.fileContainingSymbol;
      return files(descriptors.fileContainingSymbol(symbol), `symbol ${symbol}`);
    } else if (request.allExtensionNumbersOfType !== undefined) {
      const type = request.allExtensionNumbersOfType;
      if (descriptors.fileContainingSymbol(type)) {
        // Our contracts declare no extensions.
        response.allExtensionNumbersResponse = { baseTypeName: type, extensionNumber: [] };
      } else {
        response.errorResponse = {
          errorCode: status.NOT_FOUND,
          errorMessage: `type ${type} not found`,
        };
      }
    } else if (request.fileContainingExtension !== undefined) {
      const { containingType, extensionNumber } = request.fileContainingExtension;
      response.errorResponse = {
        errorCode: status.NOT_FOUND,
        errorMessage: `extension ${extensionNumber} of ${containingType} not found`,
      };
    } else {
      response.errorResponse = {
        errorCode: status.INVALID_ARGUMENT,
        errorMessage: "message_request: one of its fields must be set",
      };
    }
    return response;
  };

  return {
    serverReflectionInfo(call: ServerDuplexStream<Request, Response>) {
      call.on("data", (request: Request | MalformedRequest) => {
        const refusal = refusalOf(request);
        if (refusal) {
          call.emit("error", refusal);
          return;
        }
        // A caller that sends and never reads is not answered into an unbounded buffer: reading
        // waits for the answers to drain (HTTP/2 flow control then holds the caller).
        if (!call.write(answer(request as Request))) {
          call.pause();
          call.once("drain", () => call.resume());
        }
      });
      call.on("end", () => call.end());
      call.on("error", () => call.end());
    },
  };
}

/**
 * Why a request is not answered (INVALID_ARGUMENT, ending the stream): it did not decode, or a
 * name in it is longer than any descriptor's, which the answer would echo back.
 */
function refusalOf(request: Request | MalformedRequest): Partial<StatusObject> | null {
  if (request instanceof MalformedRequest) {
    return {
      code: status.INVALID_ARGUMENT,
      details: `request: not a valid grpc.reflection.v1.ServerReflectionRequest message (${request.reason})`,
    };
  }
  const names: [string, string | undefined][] = [
    ["host", request.host],
    ["file_by_filename", request.fileByFilename],
    ["file_containing_symbol", request.fileContainingSymbol],
    ["file_containing_extension.containing_type", request.fileContainingExtension?.containingType],
    ["all_extension_numbers_of_type", request.allExtensionNumbersOfType],
    ["list_services", request.listServices],
  ];
  for (const [field, value] of names) {
    if (value !== undefined && value.length > MAX_NAME) {
      return {
        code: status.INVALID_ARGUMENT,
        details: `${field}: must be at most ${MAX_NAME} characters`,
      };
    }
  }
  return null;
}
