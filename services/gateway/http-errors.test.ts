import { Metadata, status } from "@grpc/grpc-js";
import { badRequest, httpStatusOf, toHttpError } from "./http-errors";

const grpcError = (code: status, details: string) =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });

describe("gRPC codes as HTTP statuses", () => {
  test("every code maps as google/rpc/code.proto documents it", () => {
    const expected: [keyof typeof status, number][] = [
      ["OK", 200],
      ["CANCELLED", 499],
      ["UNKNOWN", 500],
      ["INVALID_ARGUMENT", 400],
      ["DEADLINE_EXCEEDED", 504],
      ["NOT_FOUND", 404],
      ["ALREADY_EXISTS", 409],
      ["PERMISSION_DENIED", 403],
      ["RESOURCE_EXHAUSTED", 429],
      ["FAILED_PRECONDITION", 400],
      ["ABORTED", 409],
      ["OUT_OF_RANGE", 400],
      ["UNIMPLEMENTED", 501],
      ["INTERNAL", 500],
      ["UNAVAILABLE", 503],
      ["DATA_LOSS", 500],
      ["UNAUTHENTICATED", 401],
    ];
    expect(expected.map(([name]) => [name, httpStatusOf(status[name])])).toEqual(expected);
  });

  test("a service's INVALID_ARGUMENT names the field in its JSON form, with a BadRequest detail", () => {
    const error = toHttpError(
      grpcError(status.INVALID_ARGUMENT, "items[0].unit_price: must be set"),
    );
    expect(error.toJSON()).toEqual({
      error: {
        code: 400,
        status: "INVALID_ARGUMENT",
        message: "items[0].unitPrice: must be set",
        details: [badRequest("items[0].unitPrice", "must be set").details[0]],
      },
    });
  });

  test("other gRPC errors keep code and message; anything else is a 500 naming no internals", () => {
    expect(toHttpError(grpcError(status.RESOURCE_EXHAUSTED, "shed")).toJSON()).toEqual({
      error: { code: 429, status: "RESOURCE_EXHAUSTED", message: "shed", details: [] },
    });
    expect(toHttpError(new TypeError("x is undefined")).toJSON()).toEqual({
      error: {
        code: 500,
        status: "INTERNAL",
        message: "internal error in the gateway",
        details: [],
      },
    });
  });
});
