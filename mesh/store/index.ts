/** A service's own database: SQLite by default, PostgreSQL by URL, with its migrations. */
export { openStore } from "./open";
export type { Migration, Store, StoreOptions } from "./store";
export { statement, type Param, type Statement } from "./statement";
export { MAX_GROUP_SIZE } from "./group-commit";
export { isUniqueViolation } from "./unique-violation";
export { isUnexpectedChanges, UnexpectedChangesError } from "./expected-changes";
