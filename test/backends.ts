import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { postgresBinDir, startPostgres, type TestPostgres } from "./postgres";

/** A database a store can run on, for tests that run the same assertions on each. */
export interface Backend {
  name: "sqlite" | "postgres";
  /**
   * The location of a new, empty store: a SQLite file in a temporary directory, or a schema
   * of its own in this test file's PostgreSQL database. Stores opened on one location share
   * it, as instances of a service do.
   */
  freshStore(prefix?: string): string;
}

const MISSING_POSTGRES =
  "PostgreSQL binaries not found under /usr/lib/postgresql/<version>/bin: " +
  "install Debian's postgresql package (apt-get install postgresql)";

let storeCount = 0;
const uniqueName = (prefix: string): string =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${++storeCount}`;

/** Temporary SQLite files, one directory per describe block. */
function sqliteBackend(): Backend {
  let dir: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "mesh-sqlite-"));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return {
    name: "sqlite",
    freshStore: (prefix = "store") => join(dir as string, `${uniqueName(prefix)}.sqlite`),
  };
}

/** A real PostgreSQL server for the describe block, and a new database on it. */
function postgresBackend(bin: string): Backend {
  let server: TestPostgres | undefined;
  let databaseUrl: string | undefined;
  beforeAll(async () => {
    server = await startPostgres(bin);
    databaseUrl = await server.createDatabase(uniqueName("test").toLowerCase());
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  }, 60_000);
  return {
    name: "postgres",
    freshStore: (prefix = "store") => {
      if (!databaseUrl) throw new Error("the PostgreSQL test server has not started");
      return `${databaseUrl}?schema=${uniqueName(prefix).toLowerCase()}`;
    },
  };
}

/**
 * Defines `define`'s tests once per backend, each in a describe block named after it, with
 * that backend's server started before its tests and stopped after. Without PostgreSQL's
 * binaries its block fails under CI (process.env.CI) and is skipped with a message otherwise.
 */
export function describeEachBackend(title: string, define: (backend: Backend) => void): void {
  describe(`${title} [sqlite]`, () => define(sqliteBackend()));
  const bin = postgresBinDir();
  if (bin) {
    describe(`${title} [postgres]`, () => define(postgresBackend(bin)));
  } else if (process.env.CI) {
    describe(`${title} [postgres]`, () => {
      it("needs PostgreSQL", () => {
        throw new Error(MISSING_POSTGRES);
      });
    });
  } else {
    console.warn(`skipping "${title} [postgres]": ${MISSING_POSTGRES}`);
    describe.skip(`${title} [postgres]`, () => define({ name: "postgres", freshStore: () => "" }));
  }
}
