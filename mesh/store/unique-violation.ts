/**
 * Whether `err` is the store refusing a row because `table`'s unique `columns` (a UNIQUE
 * constraint or the primary key, over those columns in that order) already hold its values:
 * SQLite's `SQLITE_CONSTRAINT` "UNIQUE constraint failed: table.a, table.b", or PostgreSQL's
 * 23505 on that table with "Key (a, b)=…" in its detail (a column PostgreSQL quotes there,
 * such as a reserved word, does not match). For writes that insert first and learn of a
 * duplicate from the refusal instead of a read.
 */
export function isUniqueViolation(
  err: unknown,
  table: string,
  columns: string | readonly string[],
): boolean {
  // Not `instanceof Error`: a driver's errors may come from another realm (a test's VM).
  if (typeof err !== "object" || err === null) return false;
  const names = typeof columns === "string" ? [columns] : columns;
  const { code, message, table: refused, detail } = err as Record<string, unknown>;
  if (code === "SQLITE_CONSTRAINT") {
    // The message ends with the constraint's columns.
    const constraint = names.map((name) => `${table}.${name}`).join(", ");
    return (
      typeof message === "string" && message.endsWith(`UNIQUE constraint failed: ${constraint}`)
    );
  }
  return (
    code === "23505" &&
    refused === table &&
    typeof detail === "string" &&
    detail.startsWith(`Key (${names.join(", ")})=`)
  );
}
