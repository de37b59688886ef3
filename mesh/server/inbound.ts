import type { Http2Stream, IncomingHttpHeaders } from "node:http2";
import {
  Metadata,
  ServerInterceptingCall,
  status,
  type Server,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
} from "@grpc/grpc-js";
import { STATUS_DETAILS_KEY } from "../api/error-details";
import { ownMessageMetadata } from "../api/errors";
import {
  addHttp2Options,
  baseStatusRefiner,
  http2ServersOf,
  passThrough,
  streamOf,
  type BaseStatus,
} from "../internals/grpc-js";
import {
  countMetadata,
  countRawHeaders,
  metadataSize,
  MetadataLimit,
  type HeaderCounts,
} from "./metadata-limit";

/** Longest status message sent, in UTF-8 bytes: C-core clients take 8 KiB of trailers. */
export const MAX_DETAILS_BYTES = 1_024;
// Trailers beyond this lose their google.rpc.Status details (the message stays).
const MAX_TRAILER_BYTES = 4_096;
// grpc-js echoes an unknown method's path in its UNIMPLEMENTED message; no method is longer.
const MAX_PATH_BYTES = 256;
// Node's own HTTP/2 limit on the header list sits this far above ours, so that between the two
// a caller gets our answer naming the limit; past Node's the stream is reset (ENHANCE_YOUR_CALM,
// which gRPC clients report as RESOURCE_EXHAUSTED).
const NODE_LIMIT_FACTOR = 4;
// RFC 7540 §6.5.2: every header field costs its name, its value and 32 bytes; Node drops fields
// with an empty name, so each field it keeps costs at least 33 bytes of the header list size.
const MIN_FIELD_BYTES = 33;
// PROTOCOL-HTTP2.md: Timeout → TimeoutValue TimeoutUnit, the value at most 8 digits. grpc-js's
// own pattern is unanchored, so "123456789S" passed as 23456789 s and "-1S" as 1 s.
const GRPC_TIMEOUT = /^\d{1,8}[HMSmun]$/;
const BAD_TIMEOUT = "grpc-timeout: expected 1 to 8 digits and a unit (H, M, S, m, u or n)";

/** What the guard answers a refused call with. */
type Refusal = Pick<StatusObject, "code" | "details">;

/** Options for {@link createInboundGuard}: mesh.yaml `limits`, resolved. */
export interface InboundLimits {
  maxMetadataSize: number;
  maxMetadataEntries: number;
}

/** What stands at a server's door, before any handler: see {@link createInboundGuard}. */
export interface InboundGuard {
  /** The first of the server's interceptors. */
  readonly interceptor: ServerInterceptor;
  /** Sets Node's HTTP/2 header limits of `server`; call before it binds. */
  prepare(server: Server): void;
  /** Reads the raw header list of every stream `server` accepts; call after each bind. */
  watch(server: Server): void;
}

/** `text` cut to `maxBytes` of UTF-8 on a character boundary, saying how much was cut. */
export function capText(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const cut = Buffer.from(text)
    .subarray(0, maxBytes)
    .toString()
    .replace(/\uFFFD+$/, "");
  return `${cut}… (${Buffer.byteLength(text) - Buffer.byteLength(cut)} more bytes)`;
}

/**
 * Keeps an answer small whatever it quotes: the message is capped at {@link MAX_DETAILS_BYTES},
 * and trailers over 4 KiB lose their binary details. A client whose trailers overflow reports
 * RESOURCE_EXHAUSTED or INTERNAL instead of the status the server meant.
 */
export function capStatus<S extends { details?: string; metadata?: unknown }>(answer: S): S {
  let capped = answer;
  if (answer.details && Buffer.byteLength(answer.details) > MAX_DETAILS_BYTES) {
    capped = { ...capped, details: capText(answer.details, MAX_DETAILS_BYTES) };
  }
  const metadata = answer.metadata;
  if (metadata instanceof Metadata && metadataSize(metadata) > MAX_TRAILER_BYTES) {
    const kept = metadata.clone();
    kept.remove(STATUS_DETAILS_KEY);
    capped = {
      ...capped,
      metadata: metadataSize(kept) > MAX_TRAILER_BYTES ? new Metadata() : kept,
    };
  }
  return capped;
}

/**
 * The statuses grpc-js sends by itself for input it cannot read, as INTERNAL ("a bug" in the
 * mesh's status table); they are the caller's error: INVALID_ARGUMENT, naming what was wrong.
 * (gRPC's status code table also says INTERNAL for an undecodable request; the mesh answers
 * malformed input with INVALID_ARGUMENT everywhere, so that no client counts it against a
 * healthy server, as outlier detection does.)
 */
function refineInputStatus(sent: BaseStatus): BaseStatus {
  const invalid = (details: string): BaseStatus => ({
    ...sent,
    code: status.INVALID_ARGUMENT,
    details,
  });
  if (sent.code !== status.INTERNAL) return capStatus(sent);
  if (sent.details.startsWith("Invalid grpc-timeout value")) return invalid(BAD_TIMEOUT);
  if (sent.details.startsWith("Failed to decompress")) {
    return invalid("request: the message does not decompress as its grpc-encoding says");
  }
  if (sent.details.startsWith("Error deserializing request")) {
    return invalid("request: not a valid message");
  }
  return capStatus(sent);
}

/**
 * The checks every call passes before any handler, health and reflection included: its
 * metadata's size and entry count (counted from the raw HTTP/2 header list), a repeated
 * `authorization` (UNAUTHENTICATED: Node would silently keep the first), a `grpc-timeout`
 * outside gRPC's grammar (INVALID_ARGUMENT, where grpc-js would read a number out of it), and
 * grpc-js's own answers to unreadable input mapped to INVALID_ARGUMENT; every answer is capped
 * ({@link capStatus}).
 */
export function createInboundGuard(limits: InboundLimits): InboundGuard {
  const metadataLimit = new MetadataLimit(limits.maxMetadataSize, limits.maxMetadataEntries);
  const refineStatuses = baseStatusRefiner(refineInputStatus);
  const watched = new WeakSet<object>();
  // The verdict on the stream an HTTP/2 server announced last. grpc-js's own "stream" listener
  // runs right after ours, in the same emit, and builds the call and its interceptors there and
  // then; so the interceptor finds its stream's verdict here, with no map entry per stream. (A
  // stream grpc-js answers itself, as an unknown method, stays referenced until the next one.)
  let lastStream: Http2Stream | undefined;
  let lastRefusal: Refusal | null = null;

  const refuse = (counts: HeaderCounts, badTimeout = false): Refusal | null => {
    if (counts.authorizations > 1) {
      return { code: status.UNAUTHENTICATED, details: "authorization: sent more than once" };
    }
    if (badTimeout) return { code: status.INVALID_ARGUMENT, details: BAD_TIMEOUT };
    return metadataLimit.check(counts);
  };

  const onStream = (
    stream: Http2Stream,
    headers: IncomingHttpHeaders,
    _flags: number,
    raw: string[],
  ): void => {
    const timeout = headers["grpc-timeout"];
    lastStream = stream;
    lastRefusal = refuse(
      countRawHeaders(raw),
      timeout !== undefined && !GRPC_TIMEOUT.test(String(timeout)),
    );
    const path = headers[":path"];
    // The same object reaches grpc-js next: an unknown method's echo stays short.
    if (path && path.length > MAX_PATH_BYTES)
      headers[":path"] = `${path.slice(0, MAX_PATH_BYTES)}…`;
  };

  // Answers a refused call as soon as its metadata is read, before any handler.
  const refusing = (call: ServerInterceptingCallInterface, refusal: Refusal | null) =>
    new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            // A stream the guard did not see (no raw header list): grpc-js's metadata is counted.
            const answer = refusal ?? refuse(countMetadata(metadata));
            // The mesh's own words, so that a mesh caller shows them (api/errors.ts, peerFailure).
            if (answer) call.sendStatus({ ...answer, metadata: ownMessageMetadata() });
            else pass(metadata);
          },
        }),
      sendStatus: (answer, next) => next(capStatus(answer)),
    });

  const interceptor: ServerInterceptor = (_method, call) => {
    // Every status the call sends passes the base call's sendStatus, so this caps them all too.
    const refined = refineStatuses(call);
    const stream = streamOf(call);
    if (stream === undefined || stream !== lastStream) return refusing(call, null);
    const refusal = lastRefusal;
    lastStream = undefined;
    lastRefusal = null;
    // Nearly every call: nothing to refuse, so grpc-js's base call goes on with no layer.
    if (refusal === null && refined) return passThrough(call);
    return refusing(call, refusal);
  };

  return {
    interceptor,
    prepare(server) {
      const maxHeaderListSize = NODE_LIMIT_FACTOR * limits.maxMetadataSize;
      addHttp2Options(server, {
        // Node's count of fields is set where its size limit always trips first. A stream Node
        // refuses while reading its header block gets an RST_STREAM and no status (once in the
        // fuzz's 50,000 calls with INTERNAL_ERROR); so only the size bounds a header list here,
        // and any number of entries the size lets through reaches this guard, which names
        // limits.maxMetadataSize or limits.maxMetadataEntries (docs/TESTING.md, "Fuzzing").
        maxHeaderListPairs: Math.ceil(maxHeaderListSize / MIN_FIELD_BYTES) + 1,
        settings: { maxHeaderListSize },
      });
    },
    watch(server) {
      for (const http2Server of http2ServersOf(server)) {
        if (watched.has(http2Server)) continue;
        watched.add(http2Server);
        // Before grpc-js's own listener, which builds the call from the folded headers.
        http2Server.prependListener("stream", onStream);
      }
    },
  };
}
