import { status } from "@grpc/grpc-js";
import { openStore, silentLogger, StatusError, type CallContext, type Store } from "../../mesh";
import { migrations } from "./migrations";
import { createUsersService } from "./service";
import { createUsersStore } from "./store";

// Handlers called directly on an in-memory store; the context is unused by this service.
const ctx = {} as CallContext;

describe("users service", () => {
  let store: Store;
  let users: ReturnType<typeof createUsersService>;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    users = createUsersService({
      store: createUsersStore(store),
      now: () => new Date("2026-01-02T03:04:05Z"),
    });
  });
  afterEach(() => store.close());

  const failure = async (promise: Promise<unknown>): Promise<StatusError> => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StatusError);
    return err as StatusError;
  };

  it("creates a user with a lower-cased email and reads it back", async () => {
    const { user } = await users.createUser({ email: "Ada@Example.com", displayName: "Ada" }, ctx);
    if (!user) throw new Error("no user in the response");

    expect(user).toMatchObject({ email: "ada@example.com", displayName: "Ada" });
    expect(user.userId).toMatch(/^usr_[0-9A-Z]{26}$/);
    expect((await users.getUser({ userId: user.userId }, ctx)).user).toEqual(user);
  });

  it("refuses a second user with the same email, whatever its case, with ALREADY_EXISTS", async () => {
    await users.createUser({ email: "ada@example.com", displayName: "Ada" }, ctx);

    const err = await failure(
      users.createUser({ email: "ADA@example.com", displayName: "Other" }, ctx),
    );

    expect(err.code).toBe(status.ALREADY_EXISTS);
    expect(err.message).toContain("ada@example.com");
  });

  it("names every invalid field of a CreateUser at once", async () => {
    const err = await failure(
      users.createUser({ email: "not-an-email", displayName: "x".repeat(101) }, ctx),
    );

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.fieldViolations.map((f) => f.field)).toEqual(["email", "display_name"]);
  });

  it("answers NOT_FOUND for an unknown user and INVALID_ARGUMENT for an empty id", async () => {
    expect((await failure(users.getUser({ userId: "usr_nobody" }, ctx))).code).toBe(
      status.NOT_FOUND,
    );
    const empty = await failure(users.getUser({ userId: "" }, ctx));
    expect(empty.code).toBe(status.INVALID_ARGUMENT);
    expect(empty.message).toBe("user_id: is required");
  });

  it("pages through users with the token until the last page", async () => {
    for (let i = 0; i < 5; i++)
      await users.createUser({ email: `u${i}@example.com`, displayName: `U${i}` }, ctx);

    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await users.listUsers({ pageSize: 2, pageToken }, ctx);
      seen.push(...page.users.map((u) => u.email));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken !== "");

    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(["u0", "u1", "u2", "u3", "u4"].map((u) => `${u}@example.com`));
  });

  it("refuses page sizes over the maximum and tokens it did not issue", async () => {
    expect(
      (await failure(users.listUsers({ pageSize: 1001, pageToken: "" }, ctx))).message,
    ).toMatch(/^page_size:/);
    expect((await failure(users.listUsers({ pageSize: -1, pageToken: "" }, ctx))).message).toMatch(
      /^page_size:/,
    );
    expect(
      (await failure(users.listUsers({ pageSize: 0, pageToken: "%%%" }, ctx))).message,
    ).toMatch(/^page_token:/);
  });
});
