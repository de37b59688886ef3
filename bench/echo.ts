import type { ServiceDefinition } from "@grpc/grpc-js";

/**
 * The echo contract of the hop benchmarks: one unary method whose request and response are
 * the same small message. Both sides pass the bytes through unchanged, so serialization costs
 * the same for the raw and the mesh hop and only what lies between the sockets and the
 * handler differs. It is not part of the shop's contracts or reflection on purpose.
 */
export const ECHO_PATH = "/bench.echo.v1.EchoService/Echo";

const identity = (bytes: Buffer): Buffer => bytes;

/** The grpc-js definition of the echo service, usable by grpc-js and the mesh alike. */
export const EchoService = {
  echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
    originalName: "Echo",
  },
} satisfies ServiceDefinition;

/** Size of the echoed payload: a small message, like most calls between services. */
export const ECHO_PAYLOAD_BYTES = 64;

/** The payload every echo call sends. */
export const echoPayload = (): Buffer => Buffer.alloc(ECHO_PAYLOAD_BYTES, 0x61);
