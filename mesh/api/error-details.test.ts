import { status, type Metadata } from "@grpc/grpc-js";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { rejectionOf, startTestServer, type TestServer } from "../../test/support";
import { createPeer, type Peer } from "../client/peer";
import { loadTopology } from "../config/topology";
import type { ServiceHandlers } from "../server/server";
import { fieldViolationsOf } from "./error-details";
import { notFound, StatusError } from "./errors";

const VIOLATIONS = [
  { field: "email", description: "must be an email address" },
  { field: "display_name", description: "is required" },
  { field: "password", description: "must be at least 8 characters" },
];

// A users service whose CreateUser refuses every request with three field violations, as a
// handler that validates its request throws them, and whose other methods find nobody.
const refusing = {
  ...Object.fromEntries(
    Object.keys(UserServiceService).map((key) => [
      key,
      () => Promise.reject(notFound("user usr_nobody not found")),
    ]),
  ),
  createUser: () =>
    Promise.reject(new StatusError(status.INVALID_ARGUMENT, "three bad fields", VIOLATIONS)),
} as unknown as ServiceHandlers<typeof UserServiceService>;

describe("rich errors: google.rpc.BadRequest in grpc-status-details-bin", () => {
  let server: TestServer;
  let users: Peer<typeof UserServiceService>;

  beforeAll(async () => {
    server = await startTestServer((s) => s.addService(UserServiceService, refusing));
    users = createPeer(UserServiceService, {
      target: server.address,
      policy: loadTopology({}).policy,
    });
  });
  afterAll(async () => {
    users.close();
    await server.close();
  });

  it("names every bad field in the status details of a real call, as a client decodes them", async () => {
    const err = await rejectionOf(
      users.createUser({ email: "not-an-email", displayName: "", password: "short" }),
    );
    const violations = fieldViolationsOf((err as unknown as { metadata: Metadata }).metadata);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(violations).toEqual(VIOLATIONS);
  });

  it("sends no details with errors that have no field violations", async () => {
    const err = await rejectionOf(users.getUser({ userId: "usr_nobody" }));
    expect(err.code).toBe(status.NOT_FOUND);
    expect(fieldViolationsOf((err as unknown as { metadata: Metadata }).metadata)).toEqual([]);
  });
});
