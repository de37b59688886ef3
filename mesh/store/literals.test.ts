import { literalTemplate, type Param } from "./literals";

const withLiterals = (sql: string, values: readonly Param[]): string =>
  literalTemplate(sql)(values);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const sqlite3 = require("sqlite3") as {
  Database: new (file: string) => RawDatabase;
};
interface RawDatabase {
  run(sql: string, params: unknown[], done: (err: Error | null) => void): void;
  exec(sql: string, done: (err: Error | null) => void): void;
  all(sql: string, params: unknown[], done: (err: Error | null, rows: unknown[]) => void): void;
  close(done: () => void): void;
}

const call = <T>(fn: (done: (err: Error | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

// One column of each affinity (https://sqlite.org/datatype3.html), as knex's types make them.
const COLUMNS = ["t varchar(255)", "i integer", "b bigint", "r float", "x blob", "n"];

const VALUES: Param[] = [
  "",
  "it's",
  "''",
  "a ? b",
  "'); DROP TABLE v; --",
  "\0",
  "x\0y'",
  "ünïcödé 😀",
  "lone \ud800 surrogate",
  0,
  -0,
  1,
  -1,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  -(2 ** 31) - 1,
  1.5,
  -2.25,
  0.1 + 0.2,
  1e-7,
  1e21,
  1_733_500_000_000,
  Number.MAX_SAFE_INTEGER,
  NaN,
  Infinity,
  -Infinity,
  null,
  Buffer.from([0, 1, 39, 255]),
  Buffer.alloc(0),
];

describe("values written into SQL for a batch of statements (Statement.defer)", () => {
  let db: RawDatabase;

  beforeAll(async () => {
    db = new sqlite3.Database(":memory:");
    await call((done) => db.exec(`CREATE TABLE bound (${COLUMNS.join(", ")})`, done));
    await call((done) => db.exec(`CREATE TABLE written (${COLUMNS.join(", ")})`, done));
  });

  afterAll(() => new Promise<void>((resolve) => db.close(resolve)));

  it("store exactly what node-sqlite3 stores when it binds them, in every column type", async () => {
    const insert = (table: string) => `INSERT INTO ${table} VALUES (?, ?, ?, ?, ?, ?)`;
    for (const value of VALUES) {
      const row = Array<Param>(COLUMNS.length).fill(value);
      await call((done) => db.run(insert("bound"), row, done));
      await call((done) => db.exec(withLiterals(insert("written"), row), done));
    }
    // Type and bytes of every cell, in insertion order.
    const read = (table: string) =>
      call<unknown[]>((done) =>
        db.all(
          `SELECT ${["t", "i", "b", "r", "x", "n"].map((c) => `typeof(${c}), hex(${c})`).join(", ")} ` +
            `FROM ${table} ORDER BY rowid`,
          [],
          done,
        ),
      );
    const bound = await read("bound");
    expect(bound).toHaveLength(VALUES.length);
    expect(await read("written")).toEqual(bound);
  });

  it("replace only the ? outside quotes, and refuse a count that does not match", () => {
    expect(withLiterals("SELECT '?', \"?\", ? WHERE x = ?", [1, "a'b"])).toBe(
      "SELECT '?', \"?\", 1 WHERE x = 'a''b'",
    );
    expect(() => withLiterals("SELECT ?, ?", [1])).toThrow("1 values for 2 ?");
    expect(() => withLiterals("SELECT ?", [1, 2])).toThrow("2 values for 1 ?");
    expect(() => withLiterals("SELECT ?1", [1])).toThrow("numbered parameters");
    expect(() => withLiterals("SELECT ?", [true as unknown as Param])).toThrow(
      "cannot bind a boolean",
    );
  });
});
