import { status } from "@grpc/grpc-js";
import { StatusError } from "./errors";
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodePageToken,
  encodePageToken,
  pageSize,
} from "./pagination";
import { Validator } from "./validate";

/** The StatusError that `fn` throws. */
function thrownBy(fn: () => unknown): StatusError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StatusError);
    return err as StatusError;
  }
  throw new Error("expected a StatusError");
}

describe("pagination", () => {
  it("uses the default page size for 0 and the asked size up to the maximum", () => {
    const v = new Validator();

    expect(pageSize(v, 0)).toBe(DEFAULT_PAGE_SIZE);
    expect(pageSize(v, 7)).toBe(7);
    expect(pageSize(v, MAX_PAGE_SIZE)).toBe(MAX_PAGE_SIZE);
    expect(() => v.done()).not.toThrow();
  });

  it("refuses a page size above the maximum or below zero, naming the field", () => {
    for (const size of [MAX_PAGE_SIZE + 1, -1]) {
      const v = new Validator();
      pageSize(v, size);
      expect(thrownBy(() => v.done()).message).toBe("page_size: must be an integer from 0 to 1000");
    }
  });

  it("reads back the keys a token was made from, with the same filter", () => {
    const token = encodePageToken(["usr_01", 42], "user=usr_1");

    expect(decodePageToken(token, "user=usr_1")).toEqual(["usr_01", 42]);
  });

  it("treats an empty token as the first page", () => {
    expect(decodePageToken("")).toBeUndefined();
  });

  it("refuses a token it did not make with INVALID_ARGUMENT naming the field", () => {
    for (const token of [
      "%%%",
      Buffer.from("[1,2]").toString("base64url"),
      encodePageToken([]).slice(0, -3) + "x",
    ]) {
      const err = thrownBy(() => decodePageToken(token));
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.message).toBe("page_token: is not a token this method returned");
    }
  });

  it("refuses a token made for a request with other filters", () => {
    const token = encodePageToken(["ord_1"], "user=usr_1");

    expect(thrownBy(() => decodePageToken(token, "user=usr_2")).message).toBe(
      "page_token: was issued for a request with other filters",
    );
  });
});
