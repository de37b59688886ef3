import { gzipSync } from "node:zlib";
import type { ClientHttp2Session } from "node:http2";
import { Metadata, status } from "@grpc/grpc-js";
import { GetUserRequest, UserServiceService } from "../../gen/shop/users/v1/users";
import { grpcFrame, rawH2Call, rawSession } from "../../test/raw-http2";
import { rejectionOf, startTestServer, type TestServer } from "../../test/support";
import { createPeer, type Peer } from "../client/peer";
import { StatusError } from "../api/errors";
import { fieldViolationsOf, STATUS_DETAILS_KEY } from "../api/error-details";
import { loadTopology } from "../config/topology";
import { capText } from "./inbound";

const GET_USER = "/shop.users.v1.UserService/GetUser";
const getUser = (userId: string): Buffer =>
  grpcFrame(Buffer.from(GetUserRequest.encode({ userId }).finish()));

describe("the inbound guard, seen from a raw HTTP/2 client", () => {
  let server: TestServer;
  let session: ClientHttp2Session;
  let users: Peer<typeof UserServiceService>;
  let answer: () => Promise<never>;

  beforeAll(async () => {
    const refuse = (): Promise<never> => Promise.reject(new Error("not used"));
    server = await startTestServer((s) =>
      s.addService(UserServiceService, {
        createUser: refuse,
        listUsers: refuse,
        getUser: () => answer(),
      }),
    );
    session = await rawSession({ address: server.address });
    users = createPeer(UserServiceService, {
      target: server.address,
      policy: loadTopology({}).policy,
    });
  });
  afterAll(async () => {
    session.close();
    users.close();
    await server.close();
  });

  // "soon" grpc-js answers INTERNAL; the others it read as 23456789 s, 1 s and 5 s.
  it.each(["soon", "123456789S", "-1S", "1.5S"])(
    "answers the malformed grpc-timeout %p with INVALID_ARGUMENT naming it",
    async (timeout) => {
      const outcome = await rawH2Call(session, GET_USER, getUser("u"), { "grpc-timeout": timeout });
      expect(outcome).toMatchObject({
        code: status.INVALID_ARGUMENT,
        details: "grpc-timeout: expected 1 to 8 digits and a unit (H, M, S, m, u or n)",
      });
    },
  );

  it("answers a message that does not decompress as its grpc-encoding says with INVALID_ARGUMENT", async () => {
    const junk = Buffer.from("not gzip at all");
    const outcome = await rawH2Call(session, GET_USER, grpcFrame(junk, true), {
      "grpc-encoding": "gzip",
    });
    expect(outcome).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "request: the message does not decompress as its grpc-encoding says",
    });
    // A real gzip of a valid request reaches the handler.
    answer = () => Promise.reject(new StatusError(status.NOT_FOUND, "no such user"));
    const zipped = gzipSync(GetUserRequest.encode({ userId: "u" }).finish());
    const served = await rawH2Call(session, GET_USER, grpcFrame(zipped, true), {
      "grpc-encoding": "gzip",
    });
    expect(served).toMatchObject({ code: status.NOT_FOUND, details: "no such user" });
  });

  it("answers a frame whose length prefix lies, or a body that is no frame, without INTERNAL", async () => {
    const message = Buffer.from(GetUserRequest.encode({ userId: "u" }).finish());
    const outcomes = await Promise.all([
      rawH2Call(session, GET_USER, grpcFrame(message, false, message.length + 100)),
      rawH2Call(session, GET_USER, Buffer.from([0x00, 0x00])),
      rawH2Call(session, GET_USER, Buffer.alloc(0)),
      rawH2Call(session, GET_USER, Buffer.concat([getUser("a"), getUser("b")])),
    ]);
    // No message, or two, for a unary method: gRPC's "request cardinality violation".
    expect(outcomes.map((o) => o.code)).toEqual([
      status.UNIMPLEMENTED,
      status.UNIMPLEMENTED,
      status.UNIMPLEMENTED,
      status.UNIMPLEMENTED,
    ]);
  });

  // The fuzz's case 21110 (seed 7): 495 entries and a 20 KB body. Node used to reset such a
  // stream itself, past 4 × 100 entries, while reading the header block: no status at all, and
  // once in a 50,000-call run with INTERNAL_ERROR instead of ENHANCE_YOUR_CALM. Now only the
  // header list's size (4 × 16 KiB) bounds it at Node's level, and the guard answers.
  it("answers any number of metadata entries that Node's size limit lets through with RESOURCE_EXHAUSTED naming our limit, many at once on one connection, none reset", async () => {
    answer = () => Promise.reject(new StatusError(status.NOT_FOUND, "not reached"));
    const body = grpcFrame(Buffer.alloc(20_906, 0x41));
    const counts = [101, 417, 495, 1_000, 1_500];
    const calls = counts.flatMap((count) =>
      Array.from({ length: 8 }, () => {
        const headers = Object.fromEntries(
          Array.from({ length: count }, (_, i) => [`x-k${i}`, "abcd"]),
        );
        return rawH2Call(session, GET_USER, body, headers).then((outcome) => ({ count, outcome }));
      }),
    );
    for (const { count, outcome } of await Promise.all(calls)) {
      // Past 100 entries the size is over 16 KiB as well (each entry counts 32 bytes more);
      // the guard names the size first. rawH2Call adds content-type and te: 2 more entries.
      expect(outcome.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(outcome.details).toMatch(
        count === 101
          ? "request metadata has 103 entries; the limit is 100 (limits.maxMetadataEntries)"
          : /^request metadata is \d+ bytes; the limit is 16384 \(limits\.maxMetadataSize\)$/,
      );
      expect(outcome.rstCode).toBeUndefined();
    }
  });

  it("echoes at most 256 characters of an unknown method's path", async () => {
    const path = `/shop.users.v1.UserService/${"X".repeat(10_000)}`;
    const outcome = await rawH2Call(session, path, getUser("u"));
    expect(outcome.code).toBe(status.UNIMPLEMENTED);
    expect(outcome.details.length).toBeLessThan(400);
  });

  it("caps a handler's message at 1 KiB, saying how much was cut", async () => {
    answer = () =>
      Promise.reject(new StatusError(status.NOT_FOUND, `no user ${"é".repeat(5_000)}`));
    const err = await rejectionOf(users.getUser({ userId: "u" }));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(Buffer.byteLength(err.details)).toBeLessThanOrEqual(1_024 + 40);
    expect(err.details).toMatch(/^no user é+… \(\d+ more bytes\)$/);
  });

  it("drops google.rpc.Status details that would make the trailers over 4 KiB, keeping the code and message", async () => {
    const violations = Array.from({ length: 500 }, (_, i) => ({
      field: `items[${i}].sku`,
      description: "is required",
    }));
    answer = () =>
      Promise.reject(new StatusError(status.INVALID_ARGUMENT, "items: 500 violations", violations));
    const err = (await rejectionOf(users.getUser({ userId: "u" }))) as Error & {
      code: number;
      details: string;
      metadata: Metadata;
    };
    expect(err).toMatchObject({ code: status.INVALID_ARGUMENT, details: "items: 500 violations" });
    expect(err.metadata.get(STATUS_DETAILS_KEY)).toEqual([]);
    // Ten violations, as the Validator reports them, keep their details.
    answer = () =>
      Promise.reject(
        new StatusError(status.INVALID_ARGUMENT, "items: 10 violations", violations.slice(0, 10)),
      );
    const small = (await rejectionOf(users.getUser({ userId: "u" }))) as Error & {
      code: number;
      details: string;
      metadata: Metadata;
    };
    expect(fieldViolationsOf(small.metadata)).toHaveLength(10);
  });
});

describe("capText", () => {
  it("keeps short text, and cuts long text on a character boundary", () => {
    expect(capText("short", 10)).toBe("short");
    expect(capText("🙂🙂🙂", 9)).toBe("🙂🙂… (4 more bytes)");
  });
});
