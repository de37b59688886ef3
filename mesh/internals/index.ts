/**
 * Adapters over libraries' private internals (grpc-js's call chain, knex's
 * SQLite dialect): the only modules that reach past a library's public API.
 */
export {
  addHttp2Options,
  baseStatusRefiner,
  http2ServersOf,
  passThrough,
  sessionOf,
  streamOf,
  type BaseStatus,
} from "./grpc-js";
export { makeKnex, Sqlite3Client, SqliteTransaction } from "./knex";
