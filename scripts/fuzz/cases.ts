/**
 * One fuzz case, from its number and the run's seed: which method, what body, how it is
 * framed and what metadata comes with it. The same seed and number always give the same
 * bytes, so a failure is replayed by its number.
 */
import type { DescMethod } from "@bufbuild/protobuf";
import { gzipSync } from "node:zlib";
import { seededRandom } from "../../mesh/api";
import { fuzzBody, type BodyKind } from "./bodies";
import { grpcFrame, type H2Target } from "./h2";

type Rng = () => number;

/** A method on a port: what a case is sent to. */
export interface FuzzTarget {
  /** The member (process) and port serving it, for example "inventory-2" or "users/health-port". */
  member: string;
  /** Where, and with which client certificate (none on a plaintext port). */
  h2: H2Target;
  /** `/package.Service/Method`. */
  path: string;
  method: DescMethod;
}

/** How the body travels: gRPC framing done right, or not. */
export type FramingKind =
  | "frame" // one length-prefixed message, as gRPC sends it
  | "lying-length" // the length prefix says more, or less, than follows
  | "no-prefix" // the message without its 5-byte prefix
  | "two-messages" // two messages where one is expected (cardinality)
  | "none" // no message at all
  | "compressed-junk" // the compressed flag and grpc-encoding gzip, but not gzip
  | "compressed-gzip" // really gzipped
  | "unknown-encoding"; // the compressed flag with an encoding nobody supports

/** What metadata comes with the call. */
export type MetadataKind =
  | "none"
  | "token" // a valid bearer token of a real user
  | "bad-token" // printable noise after "Bearer"
  | "oversized" // one value of 17 to 60 KiB, over the 16 KiB limit
  | "oversized-many" // several values adding up to 20 to 60 KiB
  | "numerous" // 101 to 1,000 entries, over the 100-entry limit
  | "bad-timeout" // a grpc-timeout gRPC's grammar does not allow
  | "bad-binary"; // a -bin value that is not base64

/** A case, ready to send. */
export interface FuzzCall {
  n: number;
  target: FuzzTarget;
  body: BodyKind;
  framing: FramingKind;
  metadata: MetadataKind;
  headers: Record<string, string>;
  payload: Buffer;
}

const FRAMINGS: readonly FramingKind[] = [
  ...Array<FramingKind>(30).fill("frame"),
  "lying-length",
  "lying-length",
  "no-prefix",
  "two-messages",
  "none",
  "compressed-junk",
  "compressed-gzip",
  "unknown-encoding",
];
const METADATA: readonly MetadataKind[] = [
  ...Array<MetadataKind>(20).fill("none"),
  ...Array<MetadataKind>(5).fill("token"),
  ...Array<MetadataKind>(3).fill("bad-token"),
  ...Array<MetadataKind>(3).fill("oversized"),
  ...Array<MetadataKind>(2).fill("oversized-many"),
  ...Array<MetadataKind>(3).fill("numerous"),
  ...Array<MetadataKind>(2).fill("bad-timeout"),
  ...Array<MetadataKind>(2).fill("bad-binary"),
];
// Deadlines the calls carry: streams end by them (Watch and event streams never end alone).
// Long enough for a stream to open and answer; short, as a third of the targets are streams.
const UNARY_TIMEOUT = "5S";
const STREAM_TIMEOUT = "100m";
const BAD_TIMEOUTS = ["soon", "-1S", "1", "123456789S", "1X", "", "1.5S", "S"];

/** The generator's seed for case `n` of a run seeded `seed`. */
export const caseSeed = (seed: number, n: number): number => seed + n * 7_919;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
const int = (rng: Rng, min: number, max: number): number =>
  min + Math.floor(rng() * (max - min + 1));
/** Printable ASCII (what HTTP/2 header values may hold), `length` characters. */
const printable = (rng: Rng, length: number): string =>
  Array.from({ length }, () => String.fromCharCode(int(rng, 0x21, 0x7e))).join("");

function metadataOf(rng: Rng, kind: MetadataKind, token: string): Record<string, string> {
  switch (kind) {
    case "token":
      return { authorization: `Bearer ${token}` };
    case "bad-token":
      return {
        authorization:
          pick(rng, ["Bearer ", "bearer ", "", "Basic "]) + printable(rng, int(rng, 0, 300)),
      };
    case "oversized":
      return { "x-fuzz-pad": "y".repeat(int(rng, 17, 60) * 1024) };
    case "oversized-many": {
      const total = int(rng, 20, 60) * 1024;
      const count = int(rng, 3, 8);
      return Object.fromEntries(
        Array.from({ length: count }, (_, i) => [
          `x-fuzz-${i}`,
          "z".repeat(Math.floor(total / count)),
        ]),
      );
    }
    case "numerous":
      return Object.fromEntries(
        Array.from({ length: int(rng, 101, 1_000) }, (_, i) => [`x-k${i}`, printable(rng, 4)]),
      );
    case "bad-timeout":
      return { "grpc-timeout": pick(rng, BAD_TIMEOUTS) };
    case "bad-binary":
      return { "x-fuzz-bin": pick(rng, ["!!!!", "a", "====", printable(rng, int(rng, 1, 64))]) };
    default:
      return {};
  }
}

/** The bytes on the wire for `message` framed as `framing`, and the headers that go with it. */
function frame(
  rng: Rng,
  framing: FramingKind,
  message: Buffer,
): { payload: Buffer; headers: Record<string, string> } {
  switch (framing) {
    case "lying-length": {
      const lie =
        rng() < 0.5
          ? message.length + int(rng, 1, 1_000)
          : Math.max(0, message.length - int(rng, 1, 8));
      return { payload: grpcFrame(message, false, lie), headers: {} };
    }
    case "no-prefix":
      return { payload: message, headers: {} };
    case "two-messages":
      return { payload: Buffer.concat([grpcFrame(message), grpcFrame(message)]), headers: {} };
    case "none":
      return { payload: Buffer.alloc(0), headers: {} };
    case "compressed-junk":
      return { payload: grpcFrame(message, true), headers: { "grpc-encoding": "gzip" } };
    case "compressed-gzip":
      return { payload: grpcFrame(gzipSync(message), true), headers: { "grpc-encoding": "gzip" } };
    case "unknown-encoding":
      return {
        payload: grpcFrame(message, true),
        headers: { "grpc-encoding": pick(rng, ["snappy", "br", "x"]) },
      };
    default:
      return { payload: grpcFrame(message), headers: {} };
  }
}

/** Case `n` of the run seeded `seed`, for `target`: the same three always give the same call. */
export function fuzzCall(seed: number, n: number, target: FuzzTarget, token: string): FuzzCall {
  const rng = seededRandom(caseSeed(seed, n));
  const streaming = target.method.methodKind !== "unary";
  const { kind: body, body: message } = fuzzBody(rng, target.method.input);
  const framing = pick(rng, FRAMINGS);
  const framed = frame(rng, framing, message);
  const metadata = pick(rng, METADATA);
  const headers: Record<string, string> = {
    "grpc-timeout": streaming ? STREAM_TIMEOUT : UNARY_TIMEOUT,
    ...framed.headers,
    ...metadataOf(rng, metadata, token),
  };
  return { n, target, body, framing, metadata, headers, payload: framed.payload };
}
