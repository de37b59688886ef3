import { UserServiceService } from "../gen/shop/users/v1/users";
import { openStore, silentLogger, type Store } from ".";
import { migrations } from "../services/users/migrations";
import { createUsersService } from "../services/users/service";
import { createUsersStore } from "../services/users/store";
import { rejectionOf, startTestServer, type TestServer } from "../test/support";
import { createPeer, type Peer } from "./client";
import { fieldViolationsOf } from "./error-details";
import { loadTopology } from "./topology";
import type { Metadata } from "@grpc/grpc-js";

describe("rich errors: google.rpc.BadRequest in grpc-status-details-bin", () => {
  let store: Store;
  let server: TestServer;
  let users: Peer<typeof UserServiceService>;

  beforeAll(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    server = await startTestServer((s) =>
      s.addService(UserServiceService, createUsersService({ store: createUsersStore(store) })),
    );
    users = createPeer(UserServiceService, {
      target: server.address,
      policy: loadTopology({}).policy,
    });
  });
  afterAll(async () => {
    users.close();
    await server.close();
    await store.close();
  });

  it("names every bad field in the status details of a real call, as a client decodes them", async () => {
    const err = await rejectionOf(
      users.createUser({ email: "not-an-email", displayName: "", password: "short" }),
    );
    const violations = fieldViolationsOf((err as unknown as { metadata: Metadata }).metadata);
    expect(violations).toEqual([
      { field: "email", description: "must be an email address" },
      { field: "display_name", description: "is required" },
      { field: "password", description: "must be at least 8 characters" },
    ]);
  });

  it("sends no details with errors that have no field violations", async () => {
    const err = await rejectionOf(users.getUser({ userId: "usr_nobody" }));
    expect(fieldViolationsOf((err as unknown as { metadata: Metadata }).metadata)).toEqual([]);
  });
});
