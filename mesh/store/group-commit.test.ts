import { AsyncLocalStorage } from "node:async_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Knex } from "knex";
import { openStore } from "./open";
import { observeStatements } from "./sqlite";
import { statement } from "./statement";
import type { Migration, Store } from "./store";

const itemsTable: Migration = {
  name: "20260101000000_items",
  up: (db: Knex) => db.schema.createTable("items", (t) => t.string("name").primary()),
  down: (db: Knex) => db.schema.dropTable("items"),
};

describe("group commit in Store.write", () => {
  let dir: string;
  let store: Store;
  let commits: number;
  let sqlSeen: ((sql: string) => void)[];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "group-commit-"));
    store = await openStore({
      file: join(dir, "s.sqlite"),
      migrations: [itemsTable],
      durability: "full",
    });
    commits = 0;
    sqlSeen = [];
    // Every statement: knex's queries, and those the store runs without knex (BEGIN, COMMIT,
    // savepoints; see statement.ts).
    store.db.on("query", (q: { sql: string }) => sqlSeen.forEach((seen) => seen(q.sql)));
    observeStatements(store.db, {
      start: (sql) => {
        sqlSeen.forEach((seen) => seen(sql));
        return () => undefined;
      },
    });
    sqlSeen.push((sql) => {
      if (/^commit/i.test(sql)) commits++;
    });
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (name: string) => (trx: Knex) =>
    trx("items")
      .insert({ name })
      .then(() => name);
  const names = async (): Promise<string[]> =>
    (await store.db<{ name: string }>("items").orderBy("name")).map((r) => r.name);

  it("writes that queue up behind a commit share the next commit, and all are stored", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.write(insert(`n${String(i).padStart(2, "0")}`))),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, "0")}`));
    expect(await names()).toHaveLength(20);
    // The first runs alone; the 19 that queued behind it go in one group.
    expect(commits).toBeLessThan(20);
  });

  it("a deferred insert that fails at the commit fails its own write only", async () => {
    const PUT = statement("INSERT INTO items (name) VALUES (?)");
    const deferring = (name: string) => async (trx: Knex) => {
      await PUT.defer(trx, [name]);
      return name;
    };
    await store.write(insert("taken"));
    let rollbacks = 0;
    sqlSeen.push((sql) => void (/^rollback to/i.test(sql) && rollbacks++));
    const outcomes = await Promise.allSettled([
      store.write(deferring("first")),
      store.write(deferring("x")),
      store.write(deferring("taken")),
      store.write(insert("y")),
      store.write(deferring("z")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    expect(String((outcomes[2] as PromiseRejectedResult).reason)).toMatch(/UNIQUE/);
    expect(await names()).toEqual(["first", "taken", "x", "y", "z"]);
    // The group failed as a whole and ran again with each write in its own savepoint, where
    // only the refused one was rolled back.
    expect(rollbacks).toBe(1);
  });

  it("a failing write rolls back alone: its group-mates commit and it rejects with its error", async () => {
    const failing = store.write(async (trx) => {
      await trx("items").insert({ name: "doomed" });
      throw new Error("no thanks");
    });
    const outcomes = await Promise.allSettled([
      store.write(insert("first")),
      store.write(insert("a")),
      failing,
      store.write(insert("b")),
      // A duplicate key fails in SQLite itself; only its own savepoint is undone.
      store.write(insert("a")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "rejected",
    ]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toEqual(new Error("no thanks"));
    expect(await names()).toEqual(["a", "b", "first"]);
  });

  it("a group with no failure runs without savepoints; one with a failure is rolled back and rerun with them", async () => {
    const statements: string[] = [];
    sqlSeen.push((sql) => statements.push(sql.toLowerCase()));
    await Promise.all([
      store.write(insert("p")),
      store.write(insert("q")),
      store.write(insert("r")),
    ]);
    expect(statements.filter((sql) => sql.startsWith("savepoint"))).toEqual([]);
    expect(statements.filter((sql) => sql.startsWith("commit"))).toHaveLength(2);

    statements.length = 0;
    const outcomes = await Promise.allSettled([
      store.write(insert("s")),
      store.write(insert("t")),
      store.write(insert("p")), // taken: fails
      store.write(insert("u")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    // The group with p was rolled back, then run again with one savepoint per write.
    expect(statements.filter((sql) => sql.startsWith("rollback to")).length).toBe(1);
    expect(statements.filter((sql) => sql.startsWith("savepoint")).length).toBeGreaterThanOrEqual(
      3,
    );
    expect(await names()).toEqual(["p", "q", "r", "s", "t", "u"]);
  });

  it("each write of a group runs in its own caller's async context, so its queries trace under its call", async () => {
    const calls = new AsyncLocalStorage<string>();
    const seen = await Promise.all(
      ["call-1", "call-2", "call-3", "call-4"].map((call) =>
        calls.run(call, () =>
          store.write(async (trx) => {
            await trx("items").insert({ name: call });
            return calls.getStore();
          }),
        ),
      ),
    );
    expect(seen).toEqual(["call-1", "call-2", "call-3", "call-4"]);
    // They did share commits: three of the four queued behind the first.
    expect(commits).toBe(2);
  });

  it("a write resolves only once its commit is durable: a new connection sees it", async () => {
    await Promise.all([store.write(insert("x")), store.write(insert("y"))]);
    const other = await openStore({ file: join(dir, "s.sqlite"), migrations: [itemsTable] });
    try {
      expect(
        (await other.db("items").orderBy("name")).map((r: { name: string }) => r.name),
      ).toEqual(["x", "y"]);
    } finally {
      await other.close();
    }
  });
});
