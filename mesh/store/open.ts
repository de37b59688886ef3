import { describeStore, isPostgresUrl } from "../config/store-location";
import { createGroupCommit } from "./group-commit";
import { observeStatements, openSqlite, releaseConnection, sqliteTransactions } from "./sqlite";
import type { Store, StoreOptions } from "./store";

const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating if needed) a service's store, SQLite or PostgreSQL as its location says,
 * and applies its migrations. Migrations run under a lock that only one process opening the
 * same store holds at a time, released by the OS or server if that process dies.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  // By code unit, as knex orders migration files: localeCompare would load ICU's collation
  // tables into every process (~3 MB resident) to sort ASCII names.
  const migrations = [...options.migrations].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  let store: Store;
  if (isPostgresUrl(options.file)) {
    // Loaded only here: pg and knex's PostgreSQL client cost every SQLite process ~4 MB and
    // a tenth of its start-up (docs/BENCHMARKS.md, "start:all").
    const { openPostgres } = await import("./postgres");
    const postgres = await openPostgres(options, migrations, busyTimeoutMs);
    const { db } = postgres;
    store = {
      db,
      dialect: "postgres",
      write: (work) => postgres.write(work),
      close: () => db.destroy(),
    };
  } else {
    const db = await openSqlite(options, migrations, busyTimeoutMs);
    store = {
      db,
      dialect: "sqlite",
      write: createGroupCommit(sqliteTransactions(db)),
      close: () => {
        releaseConnection(db);
        return db.destroy();
      },
    };
  }
  options.log?.info(
    { store: describeStore(options.file), migrations: migrations.length },
    "store ready",
  );
  // After the migrations: their queries are start-up work, not the service's.
  const observer = options.telemetry?.watchStore(store.db);
  if (observer) observeStatements(store.db, observer);
  return store;
}
