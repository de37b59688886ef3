import { status } from "@grpc/grpc-js";
import { StatusError } from "./errors";
import { Validator } from "./validate";

/** The StatusError that `v.done()` throws. */
function thrownBy(v: Validator): StatusError {
  try {
    v.done();
  } catch (err) {
    expect(err).toBeInstanceOf(StatusError);
    return err as StatusError;
  }
  throw new Error("expected done() to throw");
}

describe("Validator", () => {
  it("does nothing when every field is valid", () => {
    const v = new Validator();
    v.string("ada@example.com", "email", { max: 254, pattern: /@/ });
    v.int(10, "page_size", { min: 0, max: 1_000 });

    expect(() => v.done()).not.toThrow();
  });

  it("names every violation in one INVALID_ARGUMENT, in the order checked", () => {
    const v = new Validator();
    v.string("", "email", { max: 254 });
    v.string("x".repeat(101), "display_name", { max: 100 });
    v.int(-1, "page_size", { min: 0, max: 1_000 });

    const err = thrownBy(v);

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.message).toBe(
      "email: is required; display_name: must be at most 100 characters; page_size: must be an integer from 0 to 1000",
    );
    expect(err.fieldViolations.map((f) => f.field)).toEqual(["email", "display_name", "page_size"]);
  });

  it("names the first 10 of 1,000 violations, and counts the rest, in the message and the details", () => {
    const v = new Validator();
    for (let i = 0; i < 1_000; i++) v.int(0, `items[${i}].quantity`, { min: 1, max: 10 });

    const err = thrownBy(v);

    expect(err.fieldViolations.map((f) => f.field)).toEqual(
      Array.from({ length: 10 }, (_, i) => `items[${i}].quantity`),
    );
    expect(err.message).toMatch(
      /^items\[0\]\.quantity: must be an integer from 1 to 10; .*items\[9\]\.quantity: must be an integer from 1 to 10; and 990 more violations$/,
    );
    expect(err.message.length).toBeLessThan(1_000);
  });

  it("counts characters, not UTF-16 units, against a string's maximum", () => {
    const v = new Validator();
    v.string("🙂".repeat(3), "emoji", { max: 3 });
    v.string("🙂".repeat(4), "too_many", { max: 3 });

    expect(thrownBy(v).fieldViolations).toEqual([
      { field: "too_many", description: "must be at most 3 characters" },
    ]);
  });

  it("describes a pattern mismatch with the hint when there is one", () => {
    const v = new Validator();
    v.string("not-an-email", "email", {
      max: 254,
      pattern: /@/,
      patternHint: "must be an email address",
    });
    v.string("UPPER", "sku", { max: 64, pattern: /^[a-z]+$/ });

    expect(thrownBy(v).message).toBe("email: must be an email address; sku: must match /^[a-z]+$/");
  });

  it("allows an empty optional string", () => {
    const v = new Validator();
    v.string("", "description", { required: false, max: 2_000 });

    expect(() => v.done()).not.toThrow();
  });

  it("refuses a fraction, NaN or an out-of-range integer", () => {
    for (const value of [1.5, Number.NaN, 11, -1]) {
      const v = new Validator();
      v.int(value, "quantity", { min: 0, max: 10 });
      expect(thrownBy(v).message).toBe("quantity: must be an integer from 0 to 10");
    }
  });

  it("requires a message field to be set, and says whether it is", () => {
    const v = new Validator();

    expect(v.present({ units: 1 }, "price")).toBe(true);
    expect(v.present(undefined, "amount")).toBe(false);
    expect(thrownBy(v).message).toBe("amount: is required");
  });
});
