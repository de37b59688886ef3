import type { Knex } from "knex";
import type { Migration } from "./store";

/**
 * Applies the migrations not applied yet, in name order. The caller holds a lock that only
 * one migrating process can hold (one per dialect, see store-sqlite.ts and store-postgres.ts),
 * so a knex lock found set was left by a process that died mid-migration, and is freed.
 */
export async function applyMigrations(db: Knex, migrations: readonly Migration[]): Promise<void> {
  const source = {
    getMigrations: () => Promise.resolve([...migrations]),
    getMigrationName: (m: Migration) => m.name,
    getMigration: (m: Migration) => Promise.resolve(m),
  };
  await db.migrate.forceFreeMigrationsLock({ migrationSource: source });
  await db.migrate.latest({ migrationSource: source });
}
