import { status, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health";

export { HealthService } from "../../gen/grpc/health/v1/health";
export { ServingStatus };

type Watcher = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/**
 * The grpc.health.v1 service (https://github.com/grpc/grpc/blob/master/doc/health-checking.md)
 * for one server: the overall status under "" and one per registered service. Watchers hear
 * every change until they cancel.
 */
export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();

  /** Sets the status of a service ("" is the server as a whole) and tells its watchers. */
  set(service: string, value: ServingStatus): void {
    if (this.statuses.get(service) === value) return;
    this.statuses.set(service, value);
    for (const watcher of this.watchers.get(service) ?? []) watcher.write({ status: value });
  }

  /** Sets every known service, and the server, to one status. */
  setAll(value: ServingStatus): void {
    for (const service of [...this.statuses.keys()]) this.set(service, value);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Ends every Watch stream, as the server shuts down. */
  close(): void {
    for (const set of this.watchers.values()) for (const watcher of set) watcher.end();
    this.watchers.clear();
  }

  readonly implementation: HealthServer = {
    check: (call, callback) => {
      const value = this.statuses.get(call.request.service);
      if (value === undefined) {
        callback({
          code: status.NOT_FOUND,
          details: `service "${call.request.service}" is unknown`,
        });
      } else {
        callback(null, { status: value });
      }
    },
    watch: (call) => {
      const service = call.request.service;
      let set = this.watchers.get(service);
      if (!set) this.watchers.set(service, (set = new Set()));
      set.add(call);
      call.write({ status: this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN });
      call.on("cancelled", () => set.delete(call));
    },
    list: (_call, callback) => {
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, value] of this.statuses) statuses[service] = { status: value };
      callback(null, { statuses });
    },
  };
}
