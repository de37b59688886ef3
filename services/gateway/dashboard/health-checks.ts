import { Metadata } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as Serving,
  HealthClient,
} from "../../../gen/grpc/health/v1/health";
import type { DialOptions } from "../../../mesh/identity";

/** Overall gRPC health of members, over one kept channel per address. */
export interface HealthChecks {
  /** "SERVING", "NOT_SERVING", "UNKNOWN" or "UNREACHABLE". */
  check(address: string, service: string): Promise<string>;
  close(): void;
}

/**
 * Health checks that answer within `timeoutMs` (default 500 ms) each, dialling each service
 * as `dial` says (the gateway's identity).
 */
export function createHealthChecks(
  dial: (service: string) => DialOptions,
  timeoutMs = 500,
): HealthChecks {
  const clients = new Map<string, HealthClient>();
  return {
    check(address, service) {
      let client = clients.get(address);
      if (!client) {
        const { credentials, channelOptions } = dial(service);
        client = new HealthClient(address, credentials, channelOptions);
        clients.set(address, client);
      }
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolve) =>
        client.check({ service: "" }, new Metadata(), { deadline }, (err, response) =>
          resolve(err ? "UNREACHABLE" : (Serving[response.status] ?? "UNKNOWN")),
        ),
      );
    },
    close() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
