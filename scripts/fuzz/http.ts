/**
 * Malformed HTTP/1.1 requests for a member's admin port (`/metrics`, `/traces`, `/healthz`),
 * written by hand on a TCP socket: any method, target and header, what an HTTP client would
 * refuse to send. A call ends with the status line the server answers; 5xx or no answer at all
 * is a failure, as INTERNAL is on a gRPC port.
 */
import { connect } from "node:net";
import { seededRandom } from "../../mesh/api";
import { caseSeed } from "./cases";

type Rng = () => number;

/** How a request was made, for the report. */
export type HttpKind =
  | "route" // a served route, with or without plausible query parameters
  | "bad-query" // /traces with since and limit that are not numbers
  | "bad-method" // any method but GET, some of them not methods at all
  | "junk-target" // request targets that are no path: "*", authority forms, bad escapes
  | "long-target" // a path of 8 to 100 KB
  | "huge-header" // one header of 20 to 100 KB
  | "many-headers" // 500 to 3,000 headers
  | "bad-line" // a request line that is no request line
  | "bad-body"; // a lying Content-Length, or chunks that are not chunks

const KINDS: readonly HttpKind[] = [
  ...Array<HttpKind>(3).fill("route"),
  ...Array<HttpKind>(3).fill("bad-query"),
  ...Array<HttpKind>(2).fill("bad-method"),
  ...Array<HttpKind>(3).fill("junk-target"),
  "long-target",
  "huge-header",
  "many-headers",
  ...Array<HttpKind>(2).fill("bad-line"),
  "bad-body",
];
const ROUTES = ["/metrics", "/traces", "/healthz", "/", "/nope", "/metrics/", "/TRACES"];
const JUNK_NUMBERS = [
  "-1",
  "abc",
  "1e309",
  "NaN",
  "Infinity",
  "0x10",
  "%zz",
  "",
  "1.5",
  "9".repeat(400),
];
const JUNK_TARGETS = [
  "*",
  "//",
  "//evil.example/metrics",
  "http://[",
  "http://admin:99999/metrics",
  "https://127.0.0.1/traces",
  "/%",
  "/%zz",
  "/traces?%",
  "/traces?since=1&since=2&limit=3&limit=x",
  "/..%2f..%2fetc/passwd",
  "/metrics#frag",
  "?",
  "/\u00e9",
];
const METHODS = [
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "HEAD",
  "TRACE",
  "FOO",
  "get",
  "G\u00c9T",
];
// A whole answer in bytes at most before the reader stops reading: the status line is enough.
const ENOUGH_BYTES = 64 * 1024;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)];
const int = (rng: Rng, min: number, max: number): number =>
  min + Math.floor(rng() * (max - min + 1));
const printable = (rng: Rng, length: number): string =>
  Array.from({ length }, () => String.fromCharCode(int(rng, 0x21, 0x7e))).join("");

/** Case `n` of the run seeded `seed` for an admin port on `host`: the request's bytes. */
export function fuzzHttpRequest(
  seed: number,
  n: number,
  host: string,
): { kind: HttpKind; request: Buffer } {
  const rng = seededRandom(caseSeed(seed, n));
  const kind = pick(rng, KINDS);
  let line = `GET ${pick(rng, ROUTES)} HTTP/1.1`;
  let headers = [`Host: ${host}`, "Connection: close"];
  let body = "";
  switch (kind) {
    case "route":
      line = `GET ${pick(rng, ["/metrics", "/healthz", `/traces?since=${int(rng, 0, 1e9)}&limit=${int(rng, 0, 500)}`])} HTTP/1.1`;
      break;
    case "bad-query":
      line = `GET /traces?since=${pick(rng, JUNK_NUMBERS)}&limit=${pick(rng, JUNK_NUMBERS)} HTTP/1.1`;
      break;
    case "bad-method":
      line = `${pick(rng, METHODS)} ${pick(rng, ROUTES)} HTTP/1.1`;
      break;
    case "junk-target":
      line = `GET ${pick(rng, JUNK_TARGETS)} HTTP/1.1`;
      break;
    case "long-target":
      line = `GET /${"a".repeat(int(rng, 8_000, 100_000))} HTTP/1.1`;
      break;
    case "huge-header":
      headers.push(`X-Fuzz: ${"y".repeat(int(rng, 20_000, 100_000))}`);
      break;
    case "many-headers":
      headers = headers.concat(
        Array.from({ length: int(rng, 500, 3_000) }, (_, i) => `X-F${i}: ${printable(rng, 4)}`),
      );
      break;
    case "bad-line":
      line = pick(rng, [
        printable(rng, int(rng, 1, 200)),
        "GET / HTTP/9.9",
        "GET /metrics",
        "GET  /metrics  HTTP/1.1",
        "GET /metrics HTTP/1.1 extra",
        `GET /metrics HTTP/1.1${"\u0000"}`,
      ]);
      break;
    case "bad-body":
      if (rng() < 0.5) {
        headers.push(`Content-Length: ${pick(rng, ["-1", "abc", "99999999999999999999", "1, 2"])}`);
      } else {
        headers.push("Transfer-Encoding: chunked");
        body = pick(rng, ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhi\r\n", "-1\r\n\r\n"]);
      }
      line = `${pick(rng, ["GET", "POST"])} ${pick(rng, ROUTES)} HTTP/1.1`;
      break;
  }
  return {
    kind,
    request: Buffer.from(`${line}\r\n${headers.join("\r\n")}\r\n\r\n${body}`, "latin1"),
  };
}

/** How an HTTP call ended. */
export interface HttpOutcome {
  /** The status of the answer's status line. */
  status?: number;
  /** The connection closed, or failed, before a status line came. */
  error?: string;
  /** True when nothing came within the time given. */
  timedOut: boolean;
}

/** Sends `request` to `address` (`host:port`) and reads the status line; never rejects. */
export function rawHttpCall(
  address: string,
  request: Buffer,
  timeoutMs: number,
): Promise<HttpOutcome> {
  const colon = address.lastIndexOf(":");
  return new Promise((resolve) => {
    const outcome: HttpOutcome = { timedOut: false };
    const chunks: Buffer[] = [];
    let received = 0;
    const socket = connect({
      host: address.slice(0, colon),
      port: Number(address.slice(colon + 1)),
    });
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      socket.destroy();
    }, timeoutMs);
    const readStatus = (): boolean => {
      const text = Buffer.concat(chunks).toString("latin1");
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (match) outcome.status = Number(match[1]);
      return match !== null || text.includes("\r\n") || received > ENOUGH_BYTES;
    };
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (readStatus()) socket.destroy();
    });
    // A server that answers before it has read everything may reset the rest: the answer counts.
    socket.on("error", (err: Error) => {
      if (outcome.status === undefined) outcome.error = err.message;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (outcome.status === undefined) readStatus();
      if (outcome.status === undefined && !outcome.timedOut)
        outcome.error ??= "closed without an answer";
      if (outcome.status !== undefined) delete outcome.error;
      resolve(outcome);
    });
    socket.end(request);
  });
}
