import { TraceFlags, type SpanContext } from "@opentelemetry/api";

/** The metadata key (and HTTP header) of W3C Trace Context. */
export const TRACEPARENT = "traceparent";

const HEX = /^[0-9a-f]+$/;
const INVALID_TRACE = "00000000000000000000000000000000";
const INVALID_SPAN = "0000000000000000";

/**
 * Parses a W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
 * `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`. Anything else gives undefined, and
 * the span it would have parented starts a new trace instead.
 */
export function parseTraceparent(value: unknown): SpanContext | undefined {
  if (typeof value !== "string" || value.length < 55 || value[2] !== "-") return undefined;
  const version = value.slice(0, 2);
  // Version 00 is exactly 55 characters; a later version may append fields (read the first 4).
  if (version === "ff" || (version === "00" && value.length !== 55)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (value[35] !== "-" || value[52] !== "-") return undefined;
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (traceId === INVALID_TRACE || spanId === INVALID_SPAN) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** Formats a span's context as a version-00 `traceparent`. */
export function formatTraceparent(context: SpanContext): string {
  const sampled = context.traceFlags & TraceFlags.SAMPLED ? "01" : "00";
  return `00-${context.traceId}-${context.spanId}-${sampled}`;
}
