/**
 * The calling side: one channel per peer, deadlines, retries and hedging through grpc-js
 * service config, round robin with outlier ejection that counts only failures (the mesh's own
 * grpc-js balancer), and a circuit breaker per peer.
 */
export {
  MESH_BALANCER,
  meshBalancing,
  registerMeshBalancer,
  type BalancerObserver,
  type EjectionEvent,
  type MeshBalancing,
} from "./balancer";
export { INSTANCE_FAILURES, isInstanceFailure, isPeerFailure } from "./failure-codes";
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
export { createPeer, type Peer, type PeerCallOptions, type PeerOptions } from "./peer";
export type { StreamCallOptions } from "./server-stream";
