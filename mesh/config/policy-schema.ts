import { status as Status } from "@grpc/grpc-js";
import * as z from "zod";
import { durationSchema } from "./duration";

// The schema of mesh.yaml's `policy` (topology.ts reads the file): how calls between services
// behave. Its own module so that policy.ts, which resolves it per method, and topology.ts, which
// validates the file, both depend on it and not on each other.

export const STATUS_NAMES = Object.keys(Status).filter((k) => Number.isNaN(Number(k)));
// A cancelled call or a spent deadline is never retried (gRFC A6 stops at the deadline too).
const NEVER_RETRIED = ["OK", "CANCELLED", "DEADLINE_EXCEEDED"];
const RETRYABLE_NAMES = STATUS_NAMES.filter((name) => !NEVER_RETRIED.includes(name));

const retrySchema = z
  .object({
    maxAttempts: z.number().int().min(1).max(5).describe("1 turns retries off; grpc-js caps at 5"),
    initialBackoff: durationSchema,
    maxBackoff: durationSchema,
    backoffMultiplier: z.number().min(1),
    retryableCodes: z
      .array(
        z.enum(RETRYABLE_NAMES as [string, ...string[]], {
          message: `expected one of ${RETRYABLE_NAMES.join(", ")} (${NEVER_RETRIED.join(", ")} are never retried)`,
        }),
      )
      .min(1),
  })
  .strict();

const codeList = z
  .array(
    z.enum(RETRYABLE_NAMES as [string, ...string[]], {
      message: `expected one of ${RETRYABLE_NAMES.join(", ")}`,
    }),
  )
  .min(1);

/** Hedging (gRFC A6): extra copies of a read after `delay`, first answer wins. */
const hedgingSchema = z
  .object({
    maxAttempts: z.number().int().min(2).max(5),
    delay: durationSchema,
    nonFatalCodes: codeList,
  })
  .strict();

const methodPolicySchema = z
  .object({
    timeout: durationSchema.optional(),
    retry: retrySchema.partial().strict().optional(),
    hedging: hedgingSchema.optional(),
  })
  .strict();

export const percentage = z.number().min(0).max(100);

/** Outlier detection (gRFC A50): failure-percentage ejection, and consecutive failures. */
const outlierDetectionSchema = z
  .object({
    interval: durationSchema,
    baseEjectionTime: durationSchema,
    maxEjectionTime: durationSchema,
    maxEjectionPercent: percentage,
    failurePercentage: z
      .object({
        threshold: percentage,
        enforcementPercentage: percentage,
        // grpc-js defaults this to 5: with fewer instances nothing would ever be ejected.
        minimumHosts: z.number().int().min(1),
        requestVolume: z.number().int().min(1),
      })
      .strict(),
    // Envoy's consecutive errors: this many failures in a row eject an instance at once, at any
    // call rate (a partitioned instance fails each call only at its deadline, too slowly for
    // requestVolume calls to end within one interval).
    consecutiveFailures: z.number().int().min(1).optional(),
  })
  .strict();

/** Per peer: after `failureThreshold` failures in a row, calls fail at once for `openFor`. */
const circuitBreakerSchema = z
  .object({ failureThreshold: z.number().int().min(1), openFor: durationSchema })
  .strict();

export const policySchema = z
  .object({
    defaults: z
      .object({ timeout: durationSchema, retry: retrySchema, hedging: hedgingSchema.optional() })
      .strict(),
    retryThrottling: z
      .object({ maxTokens: z.number().int().min(1).max(1000), tokenRatio: z.number().gt(0).max(1) })
      .strict(),
    outlierDetection: outlierDetectionSchema.optional(),
    circuitBreaker: circuitBreakerSchema.optional(),
    methods: z
      .record(
        z.string().regex(/^[A-Za-z_][\w.]*\.[A-Z]\w*(\/[A-Z]\w*)?$/, {
          message: 'expected "package.Service" or "package.Service/Method"',
        }),
        methodPolicySchema,
      )
      .default({}),
  })
  .strict();

export type RetryConfig = z.output<typeof retrySchema>;
export type HedgingConfig = z.output<typeof hedgingSchema>;
export type OutlierDetectionConfig = z.output<typeof outlierDetectionSchema>;
export type CircuitBreakerConfig = z.output<typeof circuitBreakerSchema>;
export type PolicyConfig = z.output<typeof policySchema>;
