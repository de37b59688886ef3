import { Server, ServerCredentials } from "@grpc/grpc-js";
import { HealthService, type HealthRegistry } from "./health";

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
 * so plaintext exposes nothing but SERVING / NOT_SERVING. Started when `MESH_HEALTH_PORT` is
 * set (see service-process.ts).
 */
export function listenHealth(health: HealthRegistry, address: string): Promise<HealthListener> {
  const server = new Server();
  server.addService(HealthService, health.implementation);
  return new Promise((resolve, reject) => {
    server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => {
      if (err) reject(new Error(`health listener on ${address}: ${err.message}`));
      else resolve({ port, close: () => server.forceShutdown() });
    });
  });
}
