/**
 * gRPC calls made by hand over Node's HTTP/2 client (nghttp2), below any gRPC library: any
 * header, any frame, lies in the length prefix included. What a gRPC client would refuse to
 * send, a hostile one sends like this.
 */
import {
  connect,
  constants,
  type ClientHttp2Session,
  type SecureClientSessionOptions,
} from "node:http2";

/** How a raw call ended: the gRPC status, or how the stream broke. */
export interface RawH2Outcome {
  /** grpc-status, when the server sent one. */
  code?: number;
  /** grpc-message, percent-decoded. */
  details: string;
  /** RST_STREAM code, when the stream was reset instead. */
  rstCode?: number;
  /** A session or stream error (connection closed…). */
  error?: string;
  /** Bytes of response headers and trailers together (names and values). */
  headerBytes: number;
  /** DATA bytes received. */
  dataBytes: number;
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, the bytes. */
export function grpcFrame(message: Buffer, compressed = false, length = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(compressed ? 1 : 0, 0);
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, message]);
}

/** An HTTP/2 session to `authority` (`http://127.0.0.1:port`, or https with TLS options). */
export function rawSession(
  authority: string,
  tls?: SecureClientSessionOptions,
): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(authority, tls);
    session.once("connect", () => resolve(session));
    session.once("error", reject);
  });
}

const headerBytes = (headers: Record<string, unknown>): number =>
  Object.entries(headers).reduce((sum, [k, v]) => sum + k.length + String(v).length, 0);

/**
 * One call on `session`: POST `path` with gRPC's headers plus `headers`, then `body` as it is
 * (frame it with {@link grpcFrame}, or not). Resolves when the stream closes or after
 * `timeoutMs` (then cancelled); never rejects.
 */
export function rawH2Call(
  session: ClientHttp2Session,
  path: string,
  body: Buffer,
  headers: Record<string, string | string[]> = {},
  timeoutMs = 5_000,
): Promise<RawH2Outcome> {
  return new Promise((resolve) => {
    const outcome: RawH2Outcome = { details: "", headerBytes: 0, dataBytes: 0 };
    let stream: ReturnType<ClientHttp2Session["request"]>;
    const read = (fields: Record<string, unknown>): void => {
      outcome.headerBytes += headerBytes(fields);
      const code = fields["grpc-status"];
      if (code !== undefined) outcome.code = Number(code);
      const message = fields["grpc-message"];
      if (typeof message === "string") {
        try {
          outcome.details = decodeURIComponent(message);
        } catch {
          outcome.details = message;
        }
      }
    };
    try {
      stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        "content-type": "application/grpc",
        te: "trailers",
        ...headers,
      });
    } catch (err) {
      resolve({ ...outcome, error: (err as Error).message });
      return;
    }
    const timer = setTimeout(() => stream.close(constants.NGHTTP2_CANCEL), timeoutMs);
    stream.on("response", read);
    stream.on("trailers", read);
    stream.on("data", (chunk: Buffer) => (outcome.dataBytes += chunk.length));
    stream.on("error", (err: Error) => (outcome.error = err.message));
    stream.on("close", () => {
      clearTimeout(timer);
      if (outcome.code === undefined && stream.rstCode) outcome.rstCode = stream.rstCode;
      resolve(outcome);
    });
    stream.end(body);
  });
}
