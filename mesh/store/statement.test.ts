import type { Knex } from "knex";
import { describeEachBackend } from "../../test/backends";
import { openStore } from "./open";
import { observeStatements } from "./sqlite";
import { statement } from "./statement";
import type { Migration, Store } from "./store";

const itemsTable: Migration = {
  name: "20260101000000_items",
  up: (db: Knex) =>
    db.schema.createTable("items", (t) => {
      t.string("name").primary();
      t.integer("count").notNullable();
    }),
  down: (db: Knex) => db.schema.dropTable("items"),
};

interface Item {
  name: string;
  count: number;
}

const INSERT = statement<Pick<Item, "name">>(
  "INSERT INTO items (name, count) VALUES (?, ?) ON CONFLICT (name) DO NOTHING RETURNING name",
);
const ADD = statement("UPDATE items SET count = count + ? WHERE name = ?");
const BY_NAME = statement<Item>("SELECT name, count FROM items WHERE name = ?");

describeEachBackend("prepared statements", (backend) => {
  let store: Store;

  beforeEach(async () => {
    store = await openStore({ file: backend.freshStore("statements"), migrations: [itemsTable] });
  });

  afterEach(async () => {
    await store.close();
  });

  it("return rows (RETURNING included), the first row, and how many rows a write changed", async () => {
    expect(await INSERT.all(store.db, ["a", 1])).toEqual([{ name: "a" }]);
    // The conflict ignored the insert: no row returned.
    expect(await INSERT.all(store.db, ["a", 5])).toEqual([]);
    expect(await ADD.run(store.db, [2, "a"])).toBe(1);
    expect(await ADD.run(store.db, [2, "nobody"])).toBe(0);
    expect(await BY_NAME.first(store.db, ["a"])).toEqual({ name: "a", count: 3 });
    expect(await BY_NAME.first(store.db, ["nobody"])).toBeUndefined();
    // What knex's query builder reads is what the statements wrote.
    expect(await store.db<Item>("items").where({ name: "a" }).first()).toEqual({
      name: "a",
      count: 3,
    });
  });

  it("inside Store.write run in its transaction, with the builder's queries: a throw undoes both", async () => {
    await expect(
      store.write(async (trx) => {
        await INSERT.all(trx, ["b", 1]);
        await trx("items").insert({ name: "c", count: 1 });
        expect(await BY_NAME.first(trx, ["c"])).toEqual({ name: "c", count: 1 });
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(Number((await store.db("items").count({ n: "*" }).first())?.n)).toBe(0);

    await store.write(async (trx) => {
      await INSERT.all(trx, ["b", 1]);
      await ADD.run(trx, [41, "b"]);
    });
    expect(await BY_NAME.first(store.db, ["b"])).toEqual({ name: "b", count: 42 });
  });

  it("an error names what SQLite or PostgreSQL refused, and the store goes on", async () => {
    const bad = statement("INSERT INTO items (name, count) VALUES (?, ?)");
    await bad.run(store.db, ["d", 1]);
    await expect(bad.run(store.db, ["d", 1])).rejects.toThrow(/UNIQUE|unique|duplicate/);
    await expect(store.write((trx) => bad.run(trx, ["x", null]))).rejects.toThrow(/NOT NULL|null/);
    expect(await BY_NAME.first(store.db, ["d"])).toEqual({ name: "d", count: 1 });
  });

  it("a knex query waiting for the connection is not starved by a stream of statements", async () => {
    await INSERT.all(store.db, ["e", 0]);
    let written = 0;
    // 300 writes queued at once keep the store's own work busy back to back.
    const writes = Array.from({ length: 300 }, () =>
      store.write((trx) => ADD.run(trx, [1, "e"])).then(() => written++),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const read = await store.db<Item>("items").where({ name: "e" }).first();
    // It ran between groups of writes, not after all of them.
    expect(read?.count).toBeLessThan(300);
    expect(written).toBeLessThan(300);
    await Promise.all(writes);
    expect(await BY_NAME.first(store.db, ["e"])).toEqual({ name: "e", count: 300 });
  });

  if (backend.name === "sqlite") {
    it("are reported to the store's probe, with their outcome", async () => {
      const seen: string[] = [];
      observeStatements(store.db, {
        start: (sql) => (ok) => seen.push(`${sql.split(" ")[0]} ${ok ? "ok" : "failed"}`),
      });
      await store.write((trx) => INSERT.all(trx, ["f", 1]));
      await INSERT.all(store.db, ["f", 1]);
      await expect(
        statement("INSERT INTO items (name, count) VALUES (?, ?)").run(store.db, ["f", 1]),
      ).rejects.toThrow();
      expect(seen).toEqual(["BEGIN ok", "INSERT ok", "COMMIT ok", "INSERT ok", "INSERT failed"]);
    });
  }
});
