/**
 * The calling side: one channel per peer, deadlines, retries and hedging through grpc-js
 * service config, round robin with outlier ejection, and a circuit breaker per peer.
 */
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
