/**
 * The mesh: everything a service needs to serve and call gRPC properly, in-process.
 * Services import from here; the mesh never imports a service.
 */
export {
  createMeshServer,
  type MeshServer,
  type MeshServerOptions,
  type ServiceHandlers,
} from "./server";
export { createPeer, type Peer, type PeerCallOptions, type PeerOptions } from "./client";
export { createAccessControl, type AccessControl, type AccessControlOptions } from "./access";
export {
  createMeshIdentity,
  PLAINTEXT_WARNING,
  type DialOptions,
  type MeshIdentity,
} from "./identity/credentials";
export {
  certificateFiles,
  secretCertificateFiles,
  ensurePki,
  operatorOf,
  partiesOf,
  type CertificateFiles,
  type PkiOptions,
} from "./identity/pki";
export { ANONYMOUS, callerOf, spiffeId, spiffeIdOfSan, type Party } from "./identity/spiffe";
export { ANY_IDENTITY, type SecurityConfig } from "./security-config";
export {
  ADMITTED,
  createCircuitBreaker,
  PROBE,
  REJECTED,
  type Admission,
  type BreakerListener,
  type BreakerState,
  type BreakerView,
  type CircuitBreaker,
  type CircuitBreakerOptions,
} from "./breaker";
export type { CallContext } from "./context";
export type { UnaryHandler } from "./handler";
export type { ServerStreamHandler, StreamCallOptions } from "./streaming";
export {
  StatusError,
  alreadyExists,
  failedPrecondition,
  hasCode,
  invalidArgument,
  isGrpcError,
  notFound,
  unavailable,
  type FieldViolation,
} from "./errors";
export { loadDescriptors, Descriptors, type FieldRules, type Idempotency } from "./descriptors";
export { HealthRegistry, ServingStatus } from "./health";
export { listenHealth, type HealthListener } from "./health-listener";
export { connectionAgeOptions } from "./connection-age";
export { createLogger, silentLogger, type Logger } from "./logger";
export { onShutdownSignal } from "./shutdown";
export {
  createFaultSource,
  describeFault,
  faultsOverrideFile,
  faultsWithOverrides,
  watchFaults,
  type FaultSource,
  type FaultSourceOptions,
  type WatchFaultsOptions,
} from "./faults";
export { openStore, type Migration, type Store, type StoreOptions } from "./store";
export { describeStore, serviceDatabaseUrl } from "./store-location";
export {
  loadTopology,
  parseTopology,
  serviceOf,
  targetOf,
  TopologyError,
  type CircuitBreakerConfig,
  type EventsConfig,
  type FaultConfig,
  type HedgingConfig,
  type InstanceTopology,
  type LimitsConfig,
  type OutlierDetectionConfig,
  type PolicyConfig,
  type RetryConfig,
  type ServiceTopology,
  type Topology,
} from "./topology";
export { resolveMethodPolicy, serviceConfigFor, type MethodPolicy } from "./policy";
export { Validator, type IntRule, type StringRule } from "./validate";
export {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  decodePageToken,
  encodePageToken,
  pageSize,
} from "./pagination";
export { idPattern, newId } from "./ids";
export { projectRoot } from "./paths";
export { seededRandom } from "./random";
export { createServiceProcess, runMain, serve, type ServiceProcess } from "./service-process";
export {
  CLOCK_TOLERANCE_SECONDS,
  createTokenVerifier,
  jwksFile,
  jwksPath,
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_TYPE,
  TokenError,
  type JwksSource,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "./tokens";
export {
  AUTHORIZATION,
  createEndUserAuthenticator,
  outgoingMetadata,
  type EndUser,
  type EndUserAuthenticator,
} from "./end-user";
export {
  actingUser,
  callerServiceOf,
  PLAINTEXT_PEER,
  scopeOf,
  serviceOnly,
  userScope,
  setEdgeCallers,
  visibleIn,
} from "./user-scope";
export {
  BAD_REQUEST_TYPE,
  fieldViolationsOf,
  STATUS_DETAILS_KEY,
  badRequestMetadata,
} from "./error-details";
export {
  ADMIN_PORT_OFFSET,
  adminPortOf,
  createTelemetry,
  DEFAULT_SPAN_CAPACITY,
  formatTraceparent,
  memberName,
  parseTraceparent,
  TRACEPARENT,
  type SpanRecord,
  type Telemetry,
  type TelemetryOptions,
} from "./telemetry";
