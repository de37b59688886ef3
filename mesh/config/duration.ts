import * as z from "zod";
const UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;

/** Parses "250ms", "2s", "1.5s" or "1m" into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  return match ? Number(match[1]) * UNITS_MS[match[2]] : undefined;
}

/** Milliseconds as a gRPC service-config duration, which grpc-js wants as "<seconds>s". */
export function toConfigDuration(ms: number): string {
  return `${(ms / 1_000).toFixed(3).replace(/\.?0+$/, "")}s`;
}

/** A duration that may be zero, for settings where 0 turns a wait off. */
export const durationOrZeroSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `expected a duration such as "0s", "250ms" or "2s", got "${text}"`,
    });
    return z.NEVER;
  }
  return ms;
});

export const durationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({
      code: "custom",
      message: `expected a duration such as "250ms" or "2s", got "${text}"`,
    });
    return z.NEVER;
  }
  return ms;
});
