import type { IncomingMessage } from "node:http";
import { badRequest } from "./http-errors";

/** Largest JSON body accepted. */
export const MAX_BODY_BYTES = 1 << 20;

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
export function requestTimeoutMs(req: IncomingMessage): number | undefined {
  for (const name of ["request-timeout", "x-request-timeout"]) {
    const value = req.headers[name];
    if (typeof value !== "string") continue;
    const match = REQUEST_TIMEOUT.exec(value.trim());
    const ms = match ? Number(match[1]) * (match[2] === "ms" ? 1 : 1_000) : 0;
    if (!(ms > 0))
      throw badRequest(name, 'expected a positive duration such as "2", "1.5s" or "250ms"');
    return ms;
  }
  const grpc = req.headers["grpc-timeout"];
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

/** The request body parsed as JSON; a 400 when it is not JSON or is too large. */
export async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw badRequest("body", `must be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") throw badRequest("body", "a JSON object is required");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest("body", `is not valid JSON: ${(err as Error).message}`);
  }
}
