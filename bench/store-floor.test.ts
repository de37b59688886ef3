import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execRaw, openRawDatabase, type RawDatabase } from "./raw-sqlite";
import { openStoreFloor, type StoreFloor } from "./store-floor";

const rowsIn = (db: RawDatabase): Promise<unknown[]> =>
  new Promise((resolve, reject) =>
    db
      .prepare("SELECT COUNT(*) AS n FROM floor_rows")
      .all([], (err, rows) => (err ? reject(err) : resolve(rows))),
  );

describe("section c's store floor", () => {
  let dir: string;
  let file: string;
  let floor: StoreFloor;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "store-floor-"));
    file = join(dir, "floor.sqlite");
    floor = await openStoreFloor(file);
  });

  afterEach(async () => {
    await floor.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("commits every write, those that queued behind a commit together in the next", async () => {
    await Promise.all(Array.from({ length: 50 }, () => floor.write()));
    // The first write went alone; the 49 that arrived while it committed went in one group.
    expect(floor.commits).toBe(2);
    const reader = openRawDatabase(file);
    try {
      // The 50 written, as another connection sees them.
      expect(await rowsIn(reader)).toEqual([{ n: 50 }]);
    } finally {
      await new Promise<void>((resolve) => reader.close(resolve));
    }
  });

  it("fails a group that cannot commit, and commits the writes after it", async () => {
    const holder = openRawDatabase(file);
    try {
      // Another connection holds the write lock past node-sqlite3's 1 s busy timeout.
      await execRaw(holder, "BEGIN IMMEDIATE");
      await expect(floor.write()).rejects.toThrow(/SQLITE_BUSY/);
      await execRaw(holder, "COMMIT");
      await floor.write();
      expect(floor.commits).toBe(1);
      expect(await rowsIn(holder)).toEqual([{ n: 1 }]);
    } finally {
      await new Promise<void>((resolve) => holder.close(resolve));
    }
  });
});
