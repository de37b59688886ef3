import knex, { type Knex } from "knex";
import { describeEachBackend } from "../../test/backends";
import { openStore } from "./open";
import type { Migration, Store } from "./store";
import { parsePostgresUrl } from "../config/store-location";

const COUNTER = "hits";
const INCREMENTS = 50;

/** A counters table, counting how often its `up` runs. */
function countersMigration(name = "20260101000000_counters"): Migration & { ups: number } {
  const migration = {
    name,
    ups: 0,
    async up(db: Knex) {
      migration.ups++;
      await db.schema.createTable("counters", (t) => {
        t.string("name").primary();
        t.integer("value").notNullable();
      });
      await db("counters").insert({ name: COUNTER, value: 0 });
    },
    async down(db: Knex) {
      await db.schema.dropTable("counters");
    },
  };
  return migration;
}

const pragma = async (store: Store, name: string): Promise<unknown> => {
  const rows = await store.db.raw<Record<string, unknown>[]>(`PRAGMA ${name}`);
  return Object.values(rows[0])[0];
};

const setting = async (store: Store, name: string): Promise<unknown> => {
  const result = await store.db.raw<{ rows: Record<string, unknown>[] }>(`SHOW ${name}`);
  return result.rows[0][name];
};

const counterValue = async (db: Knex): Promise<number> =>
  ((await db("counters").where({ name: COUNTER }).first()) as { value: number }).value;

/** Something to resolve from inside a transaction and await from the test. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A second migration, for a store that was opened before it existed. */
const laterMigration = (): Migration => ({
  name: "20260102000000_later",
  up: (db) => db.schema.createTable("later", (t) => t.integer("id")),
  down: (db) => db.schema.dropTable("later"),
});

describeEachBackend("store", (backend) => {
  let file: string;
  const open: { close(): Promise<void> }[] = [];
  const opened = async (options: Partial<Parameters<typeof openStore>[0]> = {}): Promise<Store> => {
    const store = await openStore({ file, migrations: [countersMigration()], ...options });
    open.push(store);
    return store;
  };
  const onSqlite = backend.name === "sqlite" ? describe : describe.skip;
  const onPostgres = backend.name === "postgres" ? describe : describe.skip;

  beforeEach(() => {
    // A directory that does not exist yet: openStore creates it for a SQLite file.
    file = backend.freshStore().replace(/([^/]+\.sqlite)$/, "nested/$1");
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it("refuses a row whose foreign key points nowhere", async () => {
    const store = await opened();
    await store.db.schema.createTable("parents", (t) => t.string("id").primary());
    await store.db.schema.createTable("children", (t) => {
      t.string("id").primary();
      t.string("parent_id").notNullable().references("parents.id");
    });

    await expect(store.db("children").insert({ id: "c1", parent_id: "nobody" })).rejects.toThrow(
      /FOREIGN KEY constraint/i,
    );
  });

  onSqlite("pragmas", () => {
    it("uses WAL, enforces foreign keys, and syncs every commit with durability full", async () => {
      const store = await opened({ durability: "full", busyTimeoutMs: 1_234 });

      expect(await pragma(store, "journal_mode")).toBe("wal");
      expect(await pragma(store, "foreign_keys")).toBe(1);
      expect(await pragma(store, "synchronous")).toBe(2);
      expect(await pragma(store, "busy_timeout")).toBe(1_234);
    });

    it("defaults to synchronous NORMAL and a 5 second busy timeout", async () => {
      const store = await opened();

      expect(await pragma(store, "synchronous")).toBe(1);
      expect(await pragma(store, "busy_timeout")).toBe(5_000);
    });
  });

  onPostgres("settings", () => {
    it("waits busyTimeoutMs for a lock and syncs every commit with durability full", async () => {
      const store = await opened({ durability: "full", busyTimeoutMs: 1_234 });

      expect(await setting(store, "lock_timeout")).toBe("1234ms");
      expect(await setting(store, "synchronous_commit")).toBe("on");
    });

    it("keeps the service's tables in its own schema", async () => {
      const store = await opened();
      const { schema } = parsePostgresUrl(file);
      const other = await opened({ file: file.replace(/schema=\w+/, `schema=${schema}_other`) });
      await store.db("counters").update({ value: 7 });

      expect(await setting(store, "search_path")).toBe(schema);
      expect(await counterValue(store.db)).toBe(7);
      expect(await counterValue(other.db)).toBe(0);
    });

    it("reads bigint columns as numbers, and refuses one a number cannot hold exactly", async () => {
      const store = await opened();
      const row: unknown = await store.db.first(store.db.raw("9007199254740991::bigint as n"));
      expect(row).toEqual({ n: Number.MAX_SAFE_INTEGER });

      await expect(store.db.raw("select 9007199254740993::bigint as n")).rejects.toThrow(
        /beyond a JavaScript number/,
      );
    });
  });

  describe("migrations", () => {
    it("are not blocked by a knex lock that a dead process left set", async () => {
      const first = await opened();
      await first.db("knex_migrations_lock").update({ is_locked: 1 });
      await first.close();
      open.pop();

      const later = await opened({ migrations: [countersMigration(), laterMigration()] });

      expect(await later.db("knex_migrations").pluck("name")).toContain("20260102000000_later");
      expect(await later.db("knex_migrations_lock").pluck("is_locked")).toEqual([0]);
    });

    it("let instances that start together on a new file all open it, migrated once", async () => {
      const migration = countersMigration();

      await Promise.all([1, 2].map(() => opened({ migrations: [migration] })));

      expect(migration.ups).toBe(1);
    });

    it("apply once, however often the store is opened, and are recorded by name", async () => {
      const migration = countersMigration();
      await (await opened({ migrations: [migration] })).close();
      open.pop();

      const store = await opened({ migrations: [migration] });

      expect(migration.ups).toBe(1);
      expect(await store.db("knex_migrations").pluck("name")).toEqual(["20260101000000_counters"]);
    });

    it("apply in name order whatever order they are listed in, and only the new ones later", async () => {
      const first = countersMigration();
      const second: Migration = {
        name: "20260102000000_add_note",
        up: (db) => db.schema.alterTable("counters", (t) => void t.string("note")),
        down: (db) => db.schema.alterTable("counters", (t) => void t.dropColumn("note")),
      };
      await (await opened({ migrations: [first] })).close();
      open.pop();

      const store = await opened({ migrations: [second, first] });

      expect(first.ups).toBe(1);
      expect(await store.db("knex_migrations").orderBy("id").pluck("name")).toEqual([
        "20260101000000_counters",
        "20260102000000_add_note",
      ]);
      expect(await store.db.schema.hasColumn("counters", "note")).toBe(true);
    });

    (backend.name === "sqlite" ? it : it.skip)("work on a private in-memory database", async () => {
      const store = await opened({ file: ":memory:" });

      expect(await counterValue(store.db)).toBe(0);
    });
  });

  /** A knex of its own on the same store, with knex's plain transactions. */
  const plainKnex = (): Knex => {
    const config: Knex.Config =
      backend.name === "sqlite"
        ? { client: "sqlite3", connection: { filename: file }, useNullAsDefault: true }
        : (() => {
            const { connectionString, schema } = parsePostgresUrl(file);
            return { client: "pg", connection: connectionString, searchPath: [schema] };
          })();
    const db = knex({ ...config, pool: { min: 1, max: 1 } });
    open.push({ close: () => db.destroy() });
    return db;
  };

  describe("write", () => {
    it("rolls back everything when the work throws", async () => {
      const store = await opened();

      await expect(
        store.write(async (trx) => {
          await trx("counters").where({ name: COUNTER }).update({ value: 99 });
          throw new Error("changed my mind");
        }),
      ).rejects.toThrow("changed my mind");

      expect(await counterValue(store.db)).toBe(0);
    });

    it("loses no update when two stores on one file read and then write one counter concurrently", async () => {
      const stores = [await opened(), await opened()];
      const increment = (store: Store) =>
        store.write(async (trx) => {
          const value = await counterValue(trx);
          // Give the other store every chance to read the same value in between.
          await new Promise((resolve) => setImmediate(resolve));
          await trx("counters")
            .where({ name: COUNTER })
            .update({ value: value + 1 });
        });

      await Promise.all(Array.from({ length: INCREMENTS }, (_, i) => increment(stores[i % 2])));

      expect(await counterValue(stores[0].db)).toBe(INCREMENTS);
    });

    it("makes a second writer wait for the first and then read its result", async () => {
      const [a, b] = [await opened(), await opened()];
      const aHasRead = deferred();
      const aMayWrite = deferred();
      let bRead = -1;

      const first = a.write(async (trx) => {
        const value = await counterValue(trx);
        aHasRead.resolve();
        await aMayWrite.promise;
        await trx("counters")
          .where({ name: COUNTER })
          .update({ value: value + 1 });
      });
      await aHasRead.promise;
      const second = b.write(async (trx) => {
        bRead = await counterValue(trx);
        await trx("counters")
          .where({ name: COUNTER })
          .update({ value: bRead + 1 });
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      aMayWrite.resolve();
      await Promise.all([first, second]);

      expect(bRead).toBe(1);
      expect(await counterValue(a.db)).toBe(2);
    });

    (backend.name === "sqlite" ? it : it.skip)(
      "(for contrast) with knex's plain BEGIN, the same interleaving fails with SQLITE_BUSY",
      async () => {
        await opened();
        const [a, b] = [plainKnex(), plainKnex()];

        const trxA = await a.transaction();
        const trxB = await b.transaction();
        const readByA = await counterValue(trxA);
        const readByB = await counterValue(trxB);
        await trxA("counters")
          .where({ name: COUNTER })
          .update({ value: readByA + 1 });
        await trxA.commit();

        // B's snapshot is stale: SQLite refuses its write rather than lose A's update, so a
        // service would see errors under load instead of waiting its turn.
        await expect(
          trxB("counters")
            .where({ name: COUNTER })
            .update({ value: readByB + 1 }),
        ).rejects.toThrow(/SQLITE_BUSY/);
        await trxB.rollback().catch(() => undefined);
      },
    );

    (backend.name === "postgres" ? it : it.skip)(
      "(for contrast) with knex's plain BEGIN, the same interleaving loses an update",
      async () => {
        const store = await opened();
        const [a, b] = [plainKnex(), plainKnex()];

        const trxA = await a.transaction();
        const trxB = await b.transaction();
        const readByA = await counterValue(trxA);
        const readByB = await counterValue(trxB);
        await trxA("counters")
          .where({ name: COUNTER })
          .update({ value: readByA + 1 });
        await trxA.commit();
        // READ COMMITTED lets B write what it computed from a value that is no longer there.
        await trxB("counters")
          .where({ name: COUNTER })
          .update({ value: readByB + 1 });
        await trxB.commit();

        expect(await counterValue(store.db)).toBe(1);
      },
    );
  });
});
