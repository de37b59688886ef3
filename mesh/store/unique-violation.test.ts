import type { Knex } from "knex";
import { describeEachBackend } from "../../test/backends";
import { rejectionOf } from "../../test/support";
import { openStore } from "./open";
import { statement } from "./statement";
import type { Migration, Store } from "./store";
import { isUniqueViolation } from "./unique-violation";

const tables: Migration = {
  name: "20260101000000_seats",
  up: async (db: Knex) => {
    await db.schema.createTable("seats", (t) => {
      t.string("seat_id").primary();
      t.string("holder").notNullable().unique();
      t.string("section").notNullable();
      t.string("note").notNullable();
      t.unique(["section", "note"]);
    });
    await db.schema.createTable("tickets", (t) => {
      t.string("holder").primary();
    });
  },
  down: async (db: Knex) => {
    await db.schema.dropTable("seats");
    await db.schema.dropTable("tickets");
  },
};

const PUT_SEAT = statement(
  "INSERT INTO seats (seat_id, holder, section, note) VALUES (?, ?, 'r', ?)",
);

describeEachBackend("isUniqueViolation", (backend) => {
  let store: Store;

  beforeEach(async () => {
    store = await openStore({ file: backend.freshStore("unique"), migrations: [tables] });
    await PUT_SEAT.run(store.db, ["s1", "ada", "first"]);
  });

  afterEach(() => store.close());

  it("names the table and column whose value was taken, on a unique column and a primary key", async () => {
    const holder = await rejectionOf(PUT_SEAT.run(store.db, ["s2", "ada", "again"]));
    expect(isUniqueViolation(holder, "seats", "holder")).toBe(true);
    expect(isUniqueViolation(holder, "seats", "seat_id")).toBe(false);
    expect(isUniqueViolation(holder, "tickets", "holder")).toBe(false);
    const key = await rejectionOf(
      store.db("seats").insert({ seat_id: "s1", holder: "bo", section: "r", note: "x" }),
    );
    expect(isUniqueViolation(key, "seats", "seat_id")).toBe(true);
    expect(isUniqueViolation(key, "seats", "holder")).toBe(false);
  });

  it("names a constraint over several columns by all of them, in order", async () => {
    const pair = await rejectionOf(PUT_SEAT.run(store.db, ["s6", "eve", "first"]));
    expect(isUniqueViolation(pair, "seats", ["section", "note"])).toBe(true);
    expect(isUniqueViolation(pair, "seats", ["note", "section"])).toBe(false);
    expect(isUniqueViolation(pair, "seats", "section")).toBe(false);
    expect(isUniqueViolation(pair, "seats", "note")).toBe(false);
  });

  it("is false for other refusals and for what is not a store error", async () => {
    const missing = await rejectionOf(
      store.db("seats").insert({ seat_id: "s3", holder: "cy", section: "r", note: null }),
    );
    expect(isUniqueViolation(missing, "seats", "note")).toBe(false);
    for (const other of [
      undefined,
      null,
      "UNIQUE constraint failed: seats.holder",
      new Error("x"),
    ]) {
      expect(isUniqueViolation(other, "seats", "holder")).toBe(false);
    }
  });

  it("recognises the refusal of an insert deferred to its write's COMMIT", async () => {
    const err = await rejectionOf(
      store.write(async (trx) => {
        await PUT_SEAT.defer(trx, ["s4", "dee", "new"]);
        await PUT_SEAT.defer(trx, ["s5", "ada", "taken"]);
      }),
    );
    expect(isUniqueViolation(err, "seats", "holder")).toBe(true);
    // Nothing of the write was kept.
    expect(await store.db("seats").where({ seat_id: "s4" }).first()).toBeUndefined();
  });
});
