import { status } from "@grpc/grpc-js";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { migrations } from "../../services/users/migrations";
import { createUsersService } from "../../services/users/service";
import { createUsersStore } from "../../services/users/store";
import { projectPolicy, rejectionOf, startTestServer, type TestServer } from "../support";

describe("users over gRPC", () => {
  let store: Store;
  let server: TestServer;
  let users: Peer<typeof UserServiceService>;

  beforeAll(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    server = await startTestServer((s) =>
      s.addService(UserServiceService, createUsersService({ store: createUsersStore(store) })),
    );
    users = createPeer(UserServiceService, { target: server.address, policy: projectPolicy() });
  });
  afterAll(async () => {
    users.close();
    await server.close();
    await store.close();
  });

  it("creates and gets a user, timestamps included", async () => {
    const { user } = await users.createUser({ email: "grace@example.com", displayName: "Grace" });

    const got = await users.getUser({ userId: user!.userId });

    expect(got.user).toEqual(user);
    expect(got.user!.createTime).toBeInstanceOf(Date);
  });

  it("answers INVALID_ARGUMENT naming the field for an empty request", async () => {
    const err = await rejectionOf(users.createUser({ email: "", displayName: "" }));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("email: is required; display_name: is required");
  });

  it("answers NOT_FOUND for an unknown id", async () => {
    const err = await rejectionOf(users.getUser({ userId: "usr_missing" }));

    expect(err.code).toBe(status.NOT_FOUND);
  });
});
