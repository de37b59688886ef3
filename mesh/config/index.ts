/**
 * Configuration: mesh.yaml (topology, policy, limits, security, events), the contracts'
 * descriptors, durations and paths. Scripts (start:all, deploy, chaos) read the mesh through
 * this entry.
 */
export {
  Descriptors,
  DESCRIPTOR_SET_FILE,
  loadDescriptors,
  type FieldRules,
  type Idempotency,
} from "./descriptors";
export { parseDuration, toConfigDuration } from "./duration";
export { MALLOC_TRIM_ADDON, projectRoot, ROOT_MARKER } from "./paths";
export { resolveMethodPolicy, serviceConfigFor, type MethodPolicy } from "./policy";
export type {
  CircuitBreakerConfig,
  HedgingConfig,
  OutlierDetectionConfig,
  PolicyConfig,
  RetryConfig,
} from "./policy-schema";
export { ANY_IDENTITY, type SecurityConfig } from "./security";
export { describeStore, isPostgresUrl, serviceDatabaseUrl } from "./store-location";
export {
  DEFAULT_TOPOLOGY_FILE,
  loadTopology,
  parseTopology,
  portSetting,
  serviceOf,
  servicesInStartOrder,
  targetOf,
  TopologyError,
  type EventsConfig,
  type FaultConfig,
  type InstanceTopology,
  type LimitsConfig,
  type ServiceTopology,
  type Topology,
} from "./topology";
