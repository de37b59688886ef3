import type { Knex } from "knex";
import { statement, type Statement } from "../../mesh";

/**
 * The greater of two columns, for an upsert's SET that must never move a value back, as
 * `CASE` because SQLite spells it max(a, b) and PostgreSQL greatest(a, b). Name the columns
 * with their table (`excluded.x`, `my_table.x`): PostgreSQL needs that inside ON CONFLICT.
 */
export const greaterOf = (db: Knex, a: string, b: string): Knex.Raw =>
  db.raw("CASE WHEN ?? > ?? THEN ?? ELSE ?? END", [a, b, a, b]);

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * `INSERT INTO table (columns) VALUES (?, …), …` for any number of rows, as prepared
 * statements (see mesh/store/statement.ts), one per row count, made on first use. `suffix`
 * follows the VALUES (ON CONFLICT …, RETURNING …). Columns are the code's own names, never
 * input; anything but a lower-case SQL identifier is refused.
 */
export function insertRows<Row = Record<string, unknown>>(
  table: string,
  columns: readonly string[],
  suffix = "",
): (rows: number) => Statement<Row> {
  for (const name of [table, ...columns]) {
    if (!IDENTIFIER.test(name)) throw new Error(`${name} is not a plain SQL identifier`);
  }
  const row = `(${columns.map(() => "?").join(", ")})`;
  const made = new Map<number, Statement<Row>>();
  return (rows) => {
    let found = made.get(rows);
    if (!found) {
      const values = Array.from({ length: rows }, () => row).join(", ");
      found = statement<Row>(
        `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values}${suffix ? ` ${suffix}` : ""}`,
      );
      made.set(rows, found);
    }
    return found;
  };
}
