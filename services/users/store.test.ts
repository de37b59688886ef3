import { openStore, silentLogger, type Store } from "../../mesh";
import { migrations } from "./migrations";
import { createUsersStore } from "./store";

const user = (n: number) => ({
  userId: `usr_${n}`,
  email: `user${n}@example.com`,
  displayName: `User ${n}`,
  createTime: new Date(1_800_000_000_000 + n),
});

describe("users store", () => {
  let store: Store;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
  });
  afterEach(() => store.close());

  // Users are never changed or deleted by the service; deleting rows behind the store's back
  // shows which reads still go to the database and which are answered from memory.
  const dropAllRows = () => store.db("users").del();

  it("reads a user from the database once, then from memory, since users never change", async () => {
    const users = createUsersStore(store);
    await users.insert(user(1));

    expect(await users.get("usr_1")).toEqual(user(1));
    await dropAllRows();
    expect(await users.get("usr_1")).toEqual(user(1));
  });

  it("keeps no miss: a user another instance creates afterwards is found at once", async () => {
    const here = createUsersStore(store);
    const elsewhere = createUsersStore(store);

    expect(await here.get("usr_2")).toBeUndefined();
    await elsewhere.insert(user(2));
    expect(await here.get("usr_2")).toEqual(user(2));
  });

  it("keeps at most maxKept users, the least recently read going first", async () => {
    const users = createUsersStore(store, { maxKept: 2 });
    for (const n of [1, 2, 3]) await users.insert(user(n));

    await users.get("usr_1");
    await users.get("usr_2");
    await users.get("usr_1"); // usr_2 is now the least recently read
    await users.get("usr_3"); // and goes
    await dropAllRows();

    expect(await users.get("usr_1")).toEqual(user(1));
    expect(await users.get("usr_3")).toEqual(user(3));
    expect(await users.get("usr_2")).toBeUndefined();
  });

  it("gives each caller a copy: changing it changes nothing kept", async () => {
    const users = createUsersStore(store);
    await users.insert(user(4));

    const first = await users.get("usr_4");
    if (!first?.createTime) throw new Error("usr_4 not found");
    first.displayName = "Changed";
    first.createTime.setTime(0);

    expect(await users.get("usr_4")).toEqual(user(4));
  });
});
