/**
 * Raw gRPC over Node's HTTP/2 client for tests: the fuzzer's (scripts/fuzz/h2.ts), so that the
 * mesh's own tests and the fuzz read a call's end the same way.
 */
export {
  grpcFrame,
  rawH2Call,
  rawSession,
  statusOf,
  type H2Target,
  type RawH2Outcome,
} from "../scripts/fuzz/h2";
