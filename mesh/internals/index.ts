/**
 * Adapters over libraries' private internals (grpc-js's call chain and balancer, knex's
 * SQLite dialect): the only modules that reach past a library's public API.
 */
export {
  addHttp2Options,
  http2ServersOf,
  outlierBalancerPrototype,
  refineBaseStatuses,
  sessionOf,
  streamOf,
  subchannelAddressToString,
  type BaseStatus,
  type Eject,
  type OutlierBalancer,
} from "./grpc-js";
export { makeKnex, Sqlite3Client, SqliteTransaction } from "./knex";
