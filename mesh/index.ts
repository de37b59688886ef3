/**
 * The mesh, as services use it: serve and call gRPC with deadlines, retries, balancing, mTLS,
 * authorization and telemetry in-process. A service imports from here (and from gen/ and
 * services/common); scripts and tests use the folders' own entries (`mesh/config`,
 * `mesh/identity`, `mesh/telemetry`, …). The mesh never imports a service.
 */

// A service's life: what compose.ts exports and main.ts runs.
export {
  collectIdleGarbage,
  createServiceProcess,
  onShutdownSignal,
  runMain,
  runService,
  served,
  serve,
  type ComposedService,
  type ServedService,
  type ServiceDeps,
  type ServiceModule,
  type ServiceProcess,
} from "./process";
// Handlers: what they receive, what they throw, how they check and page.
export {
  alreadyExists,
  decodePageToken,
  encodePageToken,
  failedPrecondition,
  hasCode,
  idPattern,
  invalidArgument,
  isGrpcError,
  newId,
  notFound,
  pageSize,
  StatusError,
  unavailable,
  Validator,
  type CallContext,
  type EndUser,
  type FieldViolation,
} from "./api";
export {
  createMeshServer,
  type MeshServer,
  type ServerStreamHandler,
  type ServiceHandlers,
  type UnaryHandler,
} from "./server";
// Calls to other services.
export { createPeer, type Peer, type PeerCallOptions, type StreamCallOptions } from "./client";
// End users: whose data a call may see, and the tokens that prove it.
export {
  actingUser,
  jwksPath,
  scopeOf,
  serviceOnly,
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_TYPE,
  visibleIn,
} from "./identity";
// A service's own database.
export {
  isUnexpectedChanges,
  isUniqueViolation,
  openStore,
  statement,
  type Migration,
  type Param,
  type Statement,
  type Store,
} from "./store";
export { loadTopology, type EventsConfig, type PolicyConfig, type Topology } from "./config";
export { createLogger, silentLogger, type Logger } from "./telemetry";
