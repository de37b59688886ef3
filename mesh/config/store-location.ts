/** Store locations: a SQLite file, ":memory:", or a PostgreSQL URL with a schema. */

/** Whether a store location names a PostgreSQL database rather than a SQLite file. */
export const isPostgresUrl = (location: string): boolean => /^postgres(ql)?:\/\//i.test(location);

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Where a service's tables live: the server and database, and the schema in it. */
export interface PostgresLocation {
  /** The URL without its `schema` parameter, as the pg driver takes it. */
  connectionString: string;
  /** Every table of the service is created and read in this schema (search_path). */
  schema: string;
}

/**
 * Splits `postgres://user:password@host:port/database?schema=orders` into what the driver
 * connects to and the service's schema ("public" when the URL names none).
 *
 * @throws Error naming the `schema` parameter when it is not a plain lower-case identifier.
 */
export function parsePostgresUrl(location: string): PostgresLocation {
  const url = new URL(location);
  const schema = url.searchParams.get("schema") ?? "public";
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(
      `store URL parameter schema: "${schema}" must be a lower-case identifier ([a-z_][a-z0-9_]*)`,
    );
  }
  url.searchParams.delete("schema");
  return { connectionString: url.toString(), schema };
}

/** A store location fit for logs and tables: a PostgreSQL URL's password is masked. */
export function describeStore(location: string): string {
  if (!isPostgresUrl(location)) return location;
  const url = new URL(location);
  if (url.password) url.password = "***";
  return url.toString();
}

/**
 * The store of service `service` in the database of `databaseUrl`: its own schema, named
 * after the service ("-" becomes "_"), unless the URL names one with `?schema=`.
 */
export function serviceDatabaseUrl(databaseUrl: string, service: string): string {
  const url = new URL(databaseUrl);
  if (!url.searchParams.has("schema")) {
    url.searchParams.set("schema", service.toLowerCase().replace(/-/g, "_"));
  }
  return url.toString();
}
