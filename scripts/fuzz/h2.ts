/**
 * gRPC calls made by hand over Node's HTTP/2 client (nghttp2), below any gRPC library: any
 * header, any frame, a length prefix that lies. What a gRPC client would refuse to send, a
 * hostile one sends like this; how the call ended is then read as a gRPC client reads it.
 */
import { readFileSync } from "node:fs";
import { connect, constants, type ClientHttp2Session } from "node:http2";
import { status } from "@grpc/grpc-js";

/** Where to call: `host:port`, plaintext or with a client certificate (mTLS). */
export interface H2Target {
  address: string;
  tls?: { ca: string; cert: string; key: string };
}

/** How a raw call ended: the gRPC status, or how the stream broke. */
export interface RawH2Outcome {
  /** grpc-status, when the server sent one. */
  code?: number;
  /** grpc-message, percent-decoded. */
  details: string;
  /** The HTTP status of the response headers. */
  httpStatus?: number;
  /** RST_STREAM code, when the stream was reset instead. */
  rstCode?: number;
  /** A session or stream error (connection closed…). */
  error?: string;
  /** True when nothing ended the call within its time and the caller cancelled it. */
  timedOut: boolean;
  /** Bytes of response headers and trailers together (names and values). */
  headerBytes: number;
  /** DATA bytes received. */
  dataBytes: number;
}

/** A gRPC length-prefixed message: flag byte, 4-byte big-endian length, the bytes. */
export function grpcFrame(
  message: Uint8Array,
  compressed = false,
  length = message.length,
): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(compressed ? 1 : 0, 0);
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, message]);
}

/** An HTTP/2 session to `target`; with TLS it presents the client certificate given. */
export function rawSession(target: H2Target): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = target.tls
      ? connect(`https://${target.address}`, {
          ca: readFileSync(target.tls.ca),
          cert: readFileSync(target.tls.cert),
          key: readFileSync(target.tls.key),
          // The mesh's server certificates name 127.0.0.1 and localhost; SPIFFE is what counts.
          checkServerIdentity: () => undefined,
        })
      : connect(`http://${target.address}`);
    session.once("connect", () => {
      session.removeListener("error", reject);
      // A session that fails later is seen by its streams; this keeps the error from throwing.
      session.on("error", () => undefined);
      resolve(session);
    });
    session.once("error", reject);
  });
}

const sizeOf = (fields: Record<string, unknown>): number =>
  Object.entries(fields).reduce((sum, [k, v]) => sum + k.length + String(v).length, 0);

/**
 * One call on `session`: POST `path` with gRPC's headers plus `headers`, then `body` as it is
 * (frame it with {@link grpcFrame}, or not). Resolves when the stream closes, or after
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
    const outcome: RawH2Outcome = { details: "", timedOut: false, headerBytes: 0, dataBytes: 0 };
    const read = (fields: Record<string, unknown>): void => {
      outcome.headerBytes += sizeOf(fields);
      if (fields[":status"] !== undefined) outcome.httpStatus = Number(fields[":status"]);
      if (fields["grpc-status"] !== undefined) outcome.code = Number(fields["grpc-status"]);
      const message = fields["grpc-message"];
      if (typeof message === "string") {
        try {
          outcome.details = decodeURIComponent(message);
        } catch {
          outcome.details = message;
        }
      }
    };
    let stream: ReturnType<ClientHttp2Session["request"]>;
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
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      stream.close(constants.NGHTTP2_CANCEL);
    }, timeoutMs);
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

// gRPC over HTTP/2 ("Errors"): the status a client reports for a stream reset with each code.
// https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md#errors
const RST_STATUS: Record<number, status> = {
  [constants.NGHTTP2_REFUSED_STREAM]: status.UNAVAILABLE,
  [constants.NGHTTP2_CANCEL]: status.CANCELLED,
  [constants.NGHTTP2_ENHANCE_YOUR_CALM]: status.RESOURCE_EXHAUSTED,
  [constants.NGHTTP2_INADEQUATE_SECURITY]: status.PERMISSION_DENIED,
};
// https://github.com/grpc/grpc/blob/master/doc/http-grpc-status-mapping.md
const HTTP_STATUS: Record<number, status> = {
  400: status.INTERNAL,
  401: status.UNAUTHENTICATED,
  403: status.PERMISSION_DENIED,
  404: status.UNIMPLEMENTED,
  429: status.UNAVAILABLE,
  502: status.UNAVAILABLE,
  503: status.UNAVAILABLE,
  504: status.UNAVAILABLE,
};

/**
 * The status a gRPC client reports for `outcome`, by gRPC's own mappings: the grpc-status
 * sent; a reset stream by its code (any reset but these four is INTERNAL); a response without
 * grpc-status by its HTTP status; a broken connection UNAVAILABLE; no answer in time
 * DEADLINE_EXCEEDED (the caller's own deadline).
 */
export function statusOf(outcome: RawH2Outcome): status {
  if (outcome.code !== undefined) return outcome.code;
  if (outcome.timedOut) return status.DEADLINE_EXCEEDED;
  if (outcome.rstCode !== undefined) return RST_STATUS[outcome.rstCode] ?? status.INTERNAL;
  if (outcome.httpStatus !== undefined && outcome.httpStatus !== 200) {
    return HTTP_STATUS[outcome.httpStatus] ?? status.UNKNOWN;
  }
  if (outcome.error) return status.UNAVAILABLE;
  // A response that ended without a status.
  return status.INTERNAL;
}
