import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { LimitsConfig } from "../config/topology";
import { HealthService, type HealthRegistry } from "./health";
import { DEFAULT_SERVER_OPTIONS, inboundGuardFor } from "./server";

/** A plaintext server answering only grpc.health.v1, for the kubelet's probes. */
export interface HealthListener {
  /** The port it bound (the one asked for, or the ephemeral one for port 0). */
  port: number;
  /** Stops it at once; probes have nothing in flight worth waiting for. */
  close(): void;
}

/**
 * Serves `health` (the main server's own registry, so both always agree) on a second,
 * plaintext address. Kubernetes' native `grpc:` probe cannot present a client certificate, so
 * with mTLS on the main port it probes this listener instead; it carries no business method,
 * so plaintext exposes nothing but SERVING / NOT_SERVING; its calls pass the same inbound guard
 * as the main server's (server/inbound.ts). Started when `MESH_HEALTH_PORT` is
 * set (see service-process.ts).
 */
export function listenHealth(
  health: HealthRegistry,
  address: string,
  limits?: LimitsConfig,
): Promise<HealthListener> {
  // The same door as the main port's: limits, capped answers, malformed requests refused.
  const inbound = inboundGuardFor(limits);
  const server = new Server({ ...DEFAULT_SERVER_OPTIONS, interceptors: [inbound.interceptor] });
  inbound.prepare(server);
  server.addService(HealthService, health.implementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
      if (err) return reject(new Error(`health listener on ${address}: ${err.message}`));
      inbound.watch(server);
      resolve({ port, close: () => server.forceShutdown() });
    });
  });
}
