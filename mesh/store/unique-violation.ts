/**
 * Whether `err` is the store refusing a row because `table`'s `column` (UNIQUE or the primary
 * key) already holds its value: SQLite's `SQLITE_CONSTRAINT` "UNIQUE constraint failed:
 * table.column", or PostgreSQL's 23505 on that table with "Key (column)=…" in its detail. For
 * writes that insert first and learn of a duplicate from the refusal instead of a read.
 */
export function isUniqueViolation(err: unknown, table: string, column: string): boolean {
  // Not `instanceof Error`: a driver's errors may come from another realm (a test's VM).
  if (typeof err !== "object" || err === null) return false;
  const { code, message, table: refused, detail } = err as Record<string, unknown>;
  if (code === "SQLITE_CONSTRAINT") {
    // The message ends with the columns; more than one means a constraint over several.
    return (
      typeof message === "string" &&
      message.endsWith(`UNIQUE constraint failed: ${table}.${column}`)
    );
  }
  return (
    code === "23505" &&
    refused === table &&
    typeof detail === "string" &&
    detail.startsWith(`Key (${column})=`)
  );
}
