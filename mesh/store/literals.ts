/** A value a statement binds to one `?` (node-sqlite3 binds no BigInt). */
export type Param = string | number | null | Buffer;

/**
 * `value` as a SQLite literal that stores exactly what node-sqlite3 stores when it binds the
 * value: a number that is a 32-bit integer as INTEGER and any other number as REAL (so that
 * a TEXT column receives the same text either way), NaN as NULL, a string as text with its
 * quotes doubled, a Buffer as a blob. The bytes of a string go into the SQL unchanged, and
 * SQLite reads nothing inside quotes but the closing quote, so no value can end its literal
 * early; a string holding NUL is written as hex, since the SQL text ends at a NUL.
 */
export function sqliteLiteral(value: Param): string {
  if (value === null) return "NULL";
  switch (typeof value) {
    case "number":
      if ((value | 0) === value || Object.is(value, -0)) return String(value | 0);
      if (Number.isNaN(value)) return "NULL";
      if (!Number.isFinite(value)) return value > 0 ? "9e999" : "-9e999";
      return Number.isInteger(value) && !String(value).includes("e") ? `${value}.0` : String(value);
    case "string":
      return value.includes("\0")
        ? `CAST(X'${Buffer.from(value, "utf8").toString("hex")}' AS TEXT)`
        : `'${value.replaceAll("'", "''")}'`;
    default:
      if (Buffer.isBuffer(value)) return `X'${value.toString("hex")}'`;
      throw new TypeError(`a statement cannot bind a ${typeof value}`);
  }
}

/**
 * Fills `sql`'s `?` marks outside quotes with literals of the values it is given, for a batch
 * of statements that takes no bindings. The SQL is read once, here; the SQL is the code's own
 * text, never input.
 *
 * @throws Error when a `?` is numbered; the filler throws when the number of `?` is not the
 *   number of values.
 */
export function literalTemplate(sql: string): (values: readonly Param[]) => string {
  const parts: string[] = [];
  let from = 0;
  let quote = "";
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (quote) {
      if (c === quote) quote = "";
    } else if (c === "'" || c === '"' || c === "`") {
      quote = c;
    } else if (c === "?") {
      if (/[0-9]/.test(sql[i + 1] ?? "")) {
        throw new Error(`numbered parameters are not supported: ${sql}`);
      }
      parts.push(sql.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(sql.slice(from));
  const marks = parts.length - 1;
  return (values) => {
    if (values.length !== marks)
      throw new Error(`${values.length} values for ${marks} ? in: ${sql}`);
    let out = parts[0];
    for (let k = 0; k < marks; k++) out += sqliteLiteral(values[k]) + parts[k + 1];
    return out;
  };
}
