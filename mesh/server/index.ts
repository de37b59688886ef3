/**
 * The serving side: a grpc-js server with health, reflection, limits, access control, injected
 * faults and graceful drain, running handlers written as async functions.
 */
export { createAccessControl, type AccessControl, type AccessControlOptions } from "./access";
export { connectionAgeOptions } from "./connection-age";
export {
  createFaultSource,
  describeFault,
  faultsOverrideFile,
  faultsWithOverrides,
  matchingFault,
  watchFaults,
  type FaultSource,
  type FaultSourceOptions,
  type WatchFaultsOptions,
} from "./faults";
export type { UnaryHandler } from "./handler";
export { HealthRegistry, ServingStatus } from "./health";
export { listenHealth, type HealthListener } from "./health-listener";
export {
  createMeshServer,
  type MeshServer,
  type MeshServerOptions,
  type ServiceHandlers,
} from "./server";
export type { ServerStreamHandler } from "./streaming";
