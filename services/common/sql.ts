import type { Knex } from "knex";

/**
 * The greater of two columns, for an upsert's SET that must never move a value back, as
 * `CASE` because SQLite spells it max(a, b) and PostgreSQL greatest(a, b). Name the columns
 * with their table (`excluded.x`, `my_table.x`): PostgreSQL needs that inside ON CONFLICT.
 */
export const greaterOf = (db: Knex, a: string, b: string): Knex.Raw =>
  db.raw("CASE WHEN ?? > ?? THEN ?? ELSE ?? END", [a, b, a, b]);
