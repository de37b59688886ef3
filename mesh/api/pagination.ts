import { invalidArgument } from "./errors";
import type { Validator } from "./validate";

/** Page size when the request leaves it 0 (AIP-158). */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page a caller may ask for; more is INVALID_ARGUMENT rather than a silent cap. */
export const MAX_PAGE_SIZE = 1_000;

/** Checks `page_size` and returns the size to use. */
export function pageSize(v: Validator, value: number, field = "page_size"): number {
  v.int(value, field, { min: 0, max: MAX_PAGE_SIZE });
  return value === 0 ? DEFAULT_PAGE_SIZE : value;
}

/**
 * A keyset page token: the sort key of the last row served, and a fingerprint of the query's
 * filters so that a token is only used with the request it came from. Opaque to callers.
 */
export function encodePageToken(after: (string | number)[], filter = ""): string {
  return Buffer.from(JSON.stringify({ a: after, f: filter })).toString("base64url");
}

/** Decodes a token made by {@link encodePageToken}; undefined for the first page. */
export function decodePageToken(
  token: string,
  filter = "",
  field = "page_token",
): (string | number)[] | undefined {
  if (token === "") return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    parsed = undefined;
  }
  const body = parsed as { a?: unknown; f?: unknown } | undefined;
  if (
    !body ||
    !Array.isArray(body.a) ||
    !body.a.every((k) => typeof k === "string" || typeof k === "number")
  ) {
    throw invalidArgument(field, "is not a token this method returned");
  }
  if (body.f !== filter)
    throw invalidArgument(field, "was issued for a request with other filters");
  return body.a;
}
