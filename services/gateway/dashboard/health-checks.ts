import { credentials, Metadata } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as Serving,
  HealthClient,
} from "../../../gen/grpc/health/v1/health";

/** Overall gRPC health of members, over one kept channel per address. */
export interface HealthChecks {
  /** "SERVING", "NOT_SERVING", "UNKNOWN" or "UNREACHABLE". */
  check(address: string): Promise<string>;
  close(): void;
}

/** Health checks that answer within `timeoutMs` (default 500 ms) each. */
export function createHealthChecks(timeoutMs = 500): HealthChecks {
  const clients = new Map<string, HealthClient>();
  return {
    check(address) {
      let client = clients.get(address);
      if (!client) {
        client = new HealthClient(address, credentials.createInsecure());
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
