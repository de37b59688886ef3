import { createRequire } from "node:module";
import knex from "knex";
import { makeKnex, Sqlite3Client, SqliteTransaction } from ".";

// These tests are the alarm for a library upgrade: each names the file that needs a look.
const versionOf = (name: string): string =>
  (createRequire(__filename)(`${name}/package.json`) as { version: string }).version;

describe("knex internals (mesh/internals/knex.ts)", () => {
  const where = `knex ${versionOf("knex")}: mesh/internals/knex.ts and store/sqlite.ts need a look`;

  it("has the SQLite client and transaction classes the store extends", () => {
    expect({ where, client: typeof Sqlite3Client }).toEqual({ where, client: "function" });
    expect({
      where,
      query: typeof (Sqlite3Client.prototype as { _query?: unknown })._query,
    }).toEqual({
      where,
      query: "function",
    });
    expect({
      where,
      transaction: typeof (SqliteTransaction.prototype as { query?: unknown }).query,
    }).toEqual({
      where,
      transaction: "function",
    });
  });

  it("builds a working knex around a client with makeKnex", async () => {
    const base = knex({
      client: "sqlite3",
      connection: { filename: ":memory:" },
      useNullAsDefault: true,
    });
    try {
      const pinned = makeKnex(base.client as object);
      const rows: unknown = await pinned.raw("select 1 + 1 as two");
      expect({ where, rows }).toEqual({ where, rows: [{ two: 2 }] });
    } finally {
      await base.destroy();
    }
  });
});

// grpc-js's call chain (sessionOf) is checked on real mTLS calls of every method in
// test/integration/mtls.test.ts. The mesh's balancer uses only grpc-js's public `experimental`
// API (client/balancer.ts), checked by client/balancer.test.ts.
