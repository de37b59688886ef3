import { Client, credentials, Metadata, status } from "@grpc/grpc-js";

/** How a raw call ended. */
export interface RawOutcome {
  code: status;
  details: string;
  /** The trailers (status details, pushback). */
  metadata: Metadata;
}

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * Sends `bytes` as the request of `path`, unencoded: a client with an identity serializer,
 * so that anything, valid or not, reaches the server. A server stream is read to its end (or
 * to its deadline). Resolves to how the call ended; never rejects.
 */
export function rawCall(
  client: Client,
  path: string,
  bytes: Buffer,
  options: { streaming?: boolean; metadata?: Metadata; timeoutMs?: number } = {},
): Promise<RawOutcome> {
  const metadata = options.metadata ?? new Metadata();
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  return new Promise((resolve) => {
    if (options.streaming) {
      const stream = client.makeServerStreamRequest(path, identity, identity, bytes, metadata, {
        deadline,
      });
      stream.on("data", () => undefined);
      stream.on("error", () => undefined);
      stream.on("status", (s: { code: status; details: string; metadata: Metadata }) =>
        resolve({ code: s.code, details: s.details, metadata: s.metadata }),
      );
      return;
    }
    client.makeUnaryRequest(path, identity, identity, bytes, metadata, { deadline }, (err) =>
      resolve(
        err
          ? { code: err.code, details: err.details, metadata: err.metadata }
          : { code: status.OK, details: "", metadata: new Metadata() },
      ),
    );
  });
}

/** A plaintext client for raw calls; close it when done. */
export const rawClient = (address: string): Client =>
  new Client(address, credentials.createInsecure(), {
    // Let oversized requests reach the server, whose limit is what is tested.
    "grpc.max_send_message_length": -1,
  });
