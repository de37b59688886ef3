import type { IncomingHttpHeaders } from "node:http";
import { badRequest } from "./http-errors";

/** Largest request body accepted: 64 KiB holds a 100-item order many times over. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Deepest JSON nesting accepted; the contracts' messages nest a few levels at most. */
export const MAX_JSON_DEPTH = 32;

// grpc-timeout's units (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};
// "2", "1.5" (seconds, as HTTP's Retry-After counts), "250ms", "2s".
const REQUEST_TIMEOUT = /^(\d+(?:\.\d+)?)(ms|s)?$/;

/**
 * The caller's time budget in ms, from `Request-Timeout` or `X-Request-Timeout` (seconds as a
 * bare number, or with a unit: `250ms`, `2s`) or `grpc-timeout` (gRPC's wire form: `500m`,
 * `2S`); undefined when none is given. A malformed or zero value is a 400 naming the header.
 */
export function requestTimeoutMs(headers: IncomingHttpHeaders): number | undefined {
  for (const name of ["request-timeout", "x-request-timeout"]) {
    const value = headers[name];
    if (typeof value !== "string") continue;
    const match = REQUEST_TIMEOUT.exec(value.trim());
    const ms = match ? Number(match[1]) * (match[2] === "ms" ? 1 : 1_000) : 0;
    if (!(ms > 0))
      throw badRequest(name, 'expected a positive duration such as "2", "1.5s" or "250ms"');
    return ms;
  }
  const grpc = headers["grpc-timeout"];
  if (typeof grpc !== "string") return undefined;
  const match = GRPC_TIMEOUT.exec(grpc.trim());
  const ms = match ? Number(match[1]) * GRPC_UNIT_MS[match[2]] : 0;
  if (!(ms > 0))
    throw badRequest(
      "grpc-timeout",
      'expected digits and a unit (H, M, S, m, u, n), such as "500m"',
    );
  return ms;
}

/**
 * How deeply `text` nests arrays and objects, counted without parsing (strings skipped), so
 * that a body nested 20,000 deep is refused before any recursive code sees it.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return deepest;
}
