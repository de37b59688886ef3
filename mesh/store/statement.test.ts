import type { Knex } from "knex";
import { describeEachBackend } from "../../test/backends";
import { countTrips } from "../../test/sqlite-trips";
import { openStore } from "./open";
import { observeStatements } from "./sqlite";
import { statement } from "./statement";
import { isUnexpectedChanges } from "./expected-changes";
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

/** What the store's probe sees from now on: each statement's first word and its outcome. */
function watchStatements(store: Store): string[] {
  const seen: string[] = [];
  observeStatements(store.db, {
    start: (sql) => (ok) => seen.push(`${sql.split(" ")[0]} ${ok ? "ok" : "failed"}`),
  });
  return seen;
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("resolved where it had to fail");
    },
    (err: unknown) => err,
  );
}

describeEachBackend("prepared statements", (backend) => {
  let store: Store;
  let file: string;

  beforeEach(async () => {
    file = backend.freshStore("statements");
    store = await openStore({ file, migrations: [itemsTable] });
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

  it("a deferred insert is seen by later queries of its write, and kept only if the write commits", async () => {
    const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
    await store.write(async (trx) => {
      await PUT.defer(trx, ["g", 7]);
      await PUT.defer(trx, ["it's", 8]);
      // A statement and a builder query that read the table see what was deferred.
      expect(await BY_NAME.first(trx, ["g"])).toEqual({ name: "g", count: 7 });
      expect(await trx<Item>("items").where({ name: "it's" }).first()).toEqual({
        name: "it's",
        count: 8,
      });
      await PUT.defer(trx, ["h", 9]);
    });
    expect(await BY_NAME.first(store.db, ["h"])).toEqual({ name: "h", count: 9 });

    await expect(
      store.write(async (trx) => {
        await PUT.defer(trx, ["i", 1]);
        throw new Error("changed my mind");
      }),
    ).rejects.toThrow("changed my mind");
    expect(await BY_NAME.first(store.db, ["i"])).toBeUndefined();

    // A deferred insert that SQLite or PostgreSQL refuses fails its write, with its error.
    await expect(
      store.write(async (trx) => {
        await ADD.run(trx, [1, "g"]);
        await PUT.defer(trx, ["g", 1]);
      }),
    ).rejects.toThrow(/UNIQUE|unique|duplicate/);
    expect(await BY_NAME.first(store.db, ["g"])).toEqual({ name: "g", count: 7 });

    // Outside a write it runs at once.
    await PUT.defer(store.db, ["j", 2]);
    expect(await BY_NAME.first(store.db, ["j"])).toEqual({ name: "j", count: 2 });
  });

  it("a deferred update with expected changes keeps its write only when it changed that many rows", async () => {
    const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
    const BUMP = statement("UPDATE items SET count = count + 1 WHERE name = ? AND count < ?");
    await PUT.run(store.db, ["v", 1]);
    await store.write(async (trx) => {
      await BUMP.defer(trx, ["v", 2], { changes: 1 });
      await PUT.defer(trx, ["w", 1]);
    });
    expect(await BY_NAME.first(store.db, ["v"])).toEqual({ name: "v", count: 2 });

    // No row matches now (count is 2): the write fails and nothing of it is kept, not even
    // what was deferred before the update.
    const refused = store.write(async (trx) => {
      await PUT.defer(trx, ["x", 1]);
      await BUMP.defer(trx, ["v", 2], { changes: 1 });
      await PUT.defer(trx, ["y", 1]);
    });
    await expect(refused).rejects.toThrow(/changed .*rows.* UPDATE items SET count/);
    expect(isUnexpectedChanges(await failure(refused))).toBe(true);
    expect(await store.db("items").whereIn("name", ["x", "y"])).toEqual([]);
    expect(await BY_NAME.first(store.db, ["v"])).toEqual({ name: "v", count: 2 });

    // Too many rows (w and z) is as wrong as none; zero can be expected too.
    await PUT.run(store.db, ["z", 0]);
    const ALL = statement("UPDATE items SET count = count + 1 WHERE count < ?");
    expect(
      isUnexpectedChanges(await failure(store.write((trx) => ALL.defer(trx, [2], { changes: 1 })))),
    ).toBe(true);
    await store.write((trx) => ALL.defer(trx, [0], { changes: 0 }));
    expect(await BY_NAME.first(store.db, ["z"])).toEqual({ name: "z", count: 0 });

    // Outside a write it runs at once, and fails alone.
    expect(
      isUnexpectedChanges(await failure(BUMP.defer(store.db, ["nobody", 9], { changes: 1 }))),
    ).toBe(true);
    await BUMP.defer(store.db, ["z", 9], { changes: 1 });
    expect(await BY_NAME.first(store.db, ["z"])).toEqual({ name: "z", count: 1 });
  });

  it("writes committed together: one whose update missed fails alone, the others are kept", async () => {
    const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
    const END = statement("UPDATE items SET count = -1 WHERE name = ? AND count >= 0");
    await PUT.run(store.db, ["open", 0]);
    // Queued at once, they commit as one group on SQLite (group-commit.ts), one after
    // another on PostgreSQL; the second finds the row ended by the first.
    const outcomes = await Promise.allSettled(
      ["a1", "open", "a2", "open", "a3"].map((name, i) =>
        store.write(async (trx) => {
          if (name === "open") await END.defer(trx, [name], { changes: 1 });
          else await PUT.defer(trx, [name, i]);
          return name;
        }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    expect(isUnexpectedChanges((outcomes[3] as PromiseRejectedResult).reason)).toBe(true);
    expect(await store.db("items").orderBy("name")).toEqual([
      { name: "a1", count: 0 },
      { name: "a2", count: 2 },
      { name: "a3", count: 4 },
      { name: "open", count: -1 },
    ]);
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
      const seen = watchStatements(store);
      await store.write((trx) => INSERT.all(trx, ["f", 1]));
      await INSERT.all(store.db, ["f", 1]);
      await expect(
        statement("INSERT INTO items (name, count) VALUES (?, ?)").run(store.db, ["f", 1]),
      ).rejects.toThrow();
      expect(seen).toEqual(["BEGIN ok", "INSERT ok", "COMMIT ok", "INSERT ok", "INSERT failed"]);
    });

    it("run deferred inserts with the COMMIT in one trip, each reported to the probe", async () => {
      const seen = watchStatements(store);
      const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
      const trips = countTrips();
      await store.write(async (trx) => {
        await INSERT.all(trx, ["k", 1]);
        await PUT.defer(trx, ["l", 1]);
        await PUT.defer(trx, ["m", 1]);
      });
      // BEGIN, the INSERT, then both deferred inserts and COMMIT together.
      expect(trips()).toBe(3);
      expect(seen).toEqual(["BEGIN ok", "INSERT ok", "INSERT ok", "INSERT ok", "COMMIT ok"]);
      expect(await BY_NAME.first(store.db, ["m"])).toEqual({ name: "m", count: 1 });
    });

    it("send a guarded update, what follows it and COMMIT with BEGIN in one trip", async () => {
      await INSERT.all(store.db, ["q", 1]);
      // No guard yet, no temporary table: nothing more for every transaction to carry.
      expect(await store.db("sqlite_temp_master").select("name")).toEqual([]);
      const seen = watchStatements(store);
      const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
      const trips = countTrips();
      await store.write(async (trx) => {
        await ADD.defer(trx, [1, "q"], { changes: 1 });
        await PUT.defer(trx, ["q2", 1]);
      });
      expect(trips()).toBe(1);
      expect(seen).toEqual(["BEGIN ok", "UPDATE ok", "INSERT ok", "COMMIT ok"]);
      expect(await BY_NAME.first(store.db, ["q"])).toEqual({ name: "q", count: 2 });
      // The guard's table is the connection's own: nothing of it is in the file.
      expect(await store.db("sqlite_master").where("name", "like", "mesh%")).toEqual([]);
      expect(await store.db("sqlite_temp_master").pluck("name")).toEqual(["mesh_expected_changes"]);
    });

    it("send BEGIN with the COMMIT when every statement of a write is deferred: one trip", async () => {
      const seen = watchStatements(store);
      const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
      const trips = countTrips();
      await store.write(async (trx) => {
        await PUT.defer(trx, ["r", 1]);
        await PUT.defer(trx, ["s", 2]);
      });
      expect(trips()).toBe(1);
      expect(seen).toEqual(["BEGIN ok", "INSERT ok", "INSERT ok", "COMMIT ok"]);
      expect(await store.db("items").whereIn("name", ["r", "s"]).orderBy("name")).toEqual([
        { name: "r", count: 1 },
        { name: "s", count: 2 },
      ]);
    });

    it("start no transaction for a write that runs no statement", async () => {
      const trips = countTrips();
      expect(await store.write(() => Promise.resolve("nothing"))).toBe("nothing");
      await expect(store.write(() => Promise.reject(new Error("refused")))).rejects.toThrow(
        "refused",
      );
      expect(trips()).toBe(0);
      // The connection is not left inside a transaction: the next write commits.
      await store.write((trx) => INSERT.all(trx, ["t", 1]));
      expect(await BY_NAME.first(store.db, ["t"])).toEqual({ name: "t", count: 1 });
    });

    it("roll back the whole write when a deferred insert fails in the trip BEGIN went with", async () => {
      const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
      await expect(
        store.write(async (trx) => {
          await PUT.defer(trx, ["u", 1]);
          await PUT.defer(trx, ["u", 2]);
        }),
      ).rejects.toThrow(/UNIQUE constraint failed: items.name/);
      expect(await BY_NAME.first(store.db, ["u"])).toBeUndefined();
      // Rolled back, not left open: the next write commits, and another connection sees it.
      await store.write((trx) => PUT.defer(trx, ["u", 3]));
      const other = await openStore({ file, migrations: [itemsTable] });
      try {
        expect(await BY_NAME.first(other.db, ["u"])).toEqual({ name: "u", count: 3 });
      } finally {
        await other.close();
      }
    });

    it("run a deferred insert at once on a transaction's knex kept past its end", async () => {
      const PUT = statement("INSERT INTO items (name, count) VALUES (?, ?)");
      let kept: Knex | undefined;
      await store.write(async (trx) => {
        kept = trx;
        await PUT.defer(trx, ["n", 1]);
      });
      await PUT.defer(kept as Knex, ["o", 2]);
      // Not left waiting for the next transaction's commit.
      expect(await BY_NAME.first(store.db, ["o"])).toEqual({ name: "o", count: 2 });
      await store.write((trx) => PUT.defer(trx, ["p", 3]));
      expect(await store.db("items").whereIn("name", ["n", "o", "p"]).count({ n: "*" })).toEqual([
        { n: 3 },
      ]);
    });
  }
});
