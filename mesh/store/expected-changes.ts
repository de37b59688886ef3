/**
 * A deferred write that must change a given number of rows (Statement.defer's `changes`): on
 * SQLite it runs in a batch with others and nobody reads its answer, so a guard follows it in
 * the same batch, an insert into a temporary table of each connection that is made only when
 * `changes()` (the rows the statement before changed) is not the number expected, and whose
 * CHECK then refuses it: the batch stops there and the whole write rolls back. The guard
 * makes its table first if the connection has none (`IF NOT EXISTS`, a no-op after the first
 * time, inside the write so a rollback cannot leave it half made): a connection that never
 * guards a write never has a temporary database to carry through its transactions. On PostgreSQL,
 * where a deferred statement runs at once, its row count is compared instead. Either way the
 * write fails with {@link UnexpectedChangesError}.
 */

const GUARD = "mesh_expected_changes";

// The guard's table: temporary, the connection's own, nothing in the store's file.
const CREATE_GUARD =
  `CREATE TEMP TABLE IF NOT EXISTS ${GUARD} ` +
  `(changed INTEGER, expected INTEGER, CONSTRAINT ${GUARD} CHECK (changed = expected))`;

/** The guard after a statement that must change `rows` rows. */
export function guardSql(rows: number): string {
  if (!Number.isSafeInteger(rows) || rows < 0) {
    throw new RangeError(`expected changes must be a whole number of rows, not ${rows}`);
  }
  return (
    `${CREATE_GUARD};\n` +
    `INSERT INTO temp.${GUARD} (changed, expected) SELECT changes(), ${rows} WHERE changes() <> ${rows}`
  );
}

const CODE = "MESH_UNEXPECTED_CHANGES";

/** A write's statement changed another number of rows than it had to; the write rolled back. */
export class UnexpectedChangesError extends Error {
  readonly code = CODE;
}

/** Whether `err` is an {@link UnexpectedChangesError}: the write failed, and nothing of it was kept. */
export const isUnexpectedChanges = (err: unknown): err is UnexpectedChangesError =>
  typeof err === "object" && err !== null && (err as { code?: unknown }).code === CODE;

/** SQLite's refusal by a guard as an {@link UnexpectedChangesError} naming the statements it guarded; any other error as it is. */
export function fromGuard(err: Error, guarded: readonly string[]): Error {
  const { code, message } = err as Error & { code?: unknown };
  if (code !== "SQLITE_CONSTRAINT" || !message.endsWith(`CHECK constraint failed: ${GUARD}`)) {
    return err;
  }
  const which =
    guarded.length === 1 ? guarded[0] : `one of ${guarded.length}: ${guarded.join("; ")}`;
  return new UnexpectedChangesError(`a write changed other rows than it had to, in ${which}`, {
    cause: err,
  });
}
