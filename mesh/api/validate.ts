import { status } from "@grpc/grpc-js";
import { type FieldViolation } from "./error-details";
import { StatusError } from "./errors";

/** Violations an INVALID_ARGUMENT names; the rest are counted (1,000 bad items answered 48 KB). */
export const MAX_REPORTED_VIOLATIONS = 10;

/** Options of a string field. */
export interface StringRule {
  /** An empty string is a violation. Defaults to true. */
  required?: boolean;
  /** Most characters allowed (code points). */
  max: number;
  /** A pattern the value must match, and how to describe it to the caller. */
  pattern?: RegExp;
  patternHint?: string;
}

/** Options of an integer field. */
export interface IntRule {
  min: number;
  max: number;
}

/**
 * Collects every violation in a request, then throws one INVALID_ARGUMENT naming them all,
 * so a caller fixes its request in one round trip:
 *
 *     const v = new Validator();
 *     v.string(req.email, "email", { max: 254 });
 *     v.done();
 */
export class Validator {
  readonly violations: FieldViolation[] = [];

  /** Records a violation of `field`. */
  fail(field: string, description: string): void {
    this.violations.push({ field, description });
  }

  /** Checks a string field; returns it unchanged. */
  string(value: string, field: string, rule: StringRule): string {
    if (value.length === 0) {
      if (rule.required !== false) this.fail(field, "is required");
      return value;
    }
    // Length in characters, not UTF-16 units, so "🙂" counts once.
    if (value.length > rule.max && [...value].length > rule.max) {
      this.fail(field, `must be at most ${rule.max} characters`);
    } else if (rule.pattern && !rule.pattern.test(value)) {
      this.fail(field, rule.patternHint ?? `must match ${String(rule.pattern)}`);
    }
    return value;
  }

  /** Checks an integer field; returns it unchanged. */
  int(value: number, field: string, rule: IntRule): number {
    if (!Number.isInteger(value) || value < rule.min || value > rule.max) {
      this.fail(field, `must be an integer from ${rule.min} to ${rule.max}`);
    }
    return value;
  }

  /** Checks that a message field is set; returns whether it is. */
  present<T>(value: T | undefined, field: string): value is T {
    if (value === undefined || value === null) {
      this.fail(field, "is required");
      return false;
    }
    return true;
  }

  /**
   * Throws INVALID_ARGUMENT listing the violations, if there are any: the first
   * {@link MAX_REPORTED_VIOLATIONS} in the message and in the BadRequest details, and how many
   * more there were, so that an answer stays small whatever the request holds.
   */
  done(): void {
    if (this.violations.length === 0) return;
    const shown = this.violations.slice(0, MAX_REPORTED_VIOLATIONS);
    const more = this.violations.length - shown.length;
    const message =
      shown.map((v) => `${v.field}: ${v.description}`).join("; ") +
      (more > 0 ? `; and ${more} more violation${more === 1 ? "" : "s"}` : "");
    throw new StatusError(status.INVALID_ARGUMENT, message, shown);
  }
}
