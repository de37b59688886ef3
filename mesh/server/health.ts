import { status, type ServerWritableStream } from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService as GeneratedHealthService,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from "../../gen/grpc/health/v1/health";
import { sessionOf } from "../internals/grpc-js";
import { MalformedRequest, tolerantDefinition } from "./handler";

export { ServingStatus };

/** grpc.health.v1.Health with a deserializer that never throws (see handler.ts). */
export const HealthService = tolerantDefinition(GeneratedHealthService);

type Watcher = ServerWritableStream<HealthCheckRequest, HealthCheckResponse>;

/** Longest service name asked about: a full protobuf service name is far shorter. */
export const MAX_SERVICE_NAME = 512;
/** Watch streams open at once on one connection; more answer RESOURCE_EXHAUSTED. */
export const MAX_WATCHERS_PER_CONNECTION = 100;

const CHECK_REQUEST = "grpc.health.v1.HealthCheckRequest";
const LIST_REQUEST = "grpc.health.v1.HealthListRequest";

/** Why a request cannot be answered: INVALID_ARGUMENT naming what is wrong, or null. */
function refusalOf(request: HealthCheckRequest | MalformedRequest, type = CHECK_REQUEST) {
  if (request instanceof MalformedRequest) {
    return {
      code: status.INVALID_ARGUMENT,
      details: `request: not a valid ${type} message (${request.reason})`,
    };
  }
  if (request.service?.length > MAX_SERVICE_NAME) {
    return {
      code: status.INVALID_ARGUMENT,
      details: `service: must be at most ${MAX_SERVICE_NAME} characters`,
    };
  }
  return null;
}

/**
 * The grpc.health.v1 service (https://github.com/grpc/grpc/blob/master/doc/health-checking.md)
 * for one server: the overall status under "" and one per registered service. Watchers hear
 * every change until they cancel. Only registered names are kept: a Watch of an unknown name
 * hears SERVICE_UNKNOWN and is held with the other unknown watchers (the spec keeps it open, in
 * case the name is registered later), a cancelled watcher is forgotten at once, and one
 * connection holds at most {@link MAX_WATCHERS_PER_CONNECTION} watchers.
 */
export class HealthRegistry {
  private readonly statuses = new Map<string, ServingStatus>();
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly unknownWatchers = new Set<Watcher>();
  private readonly perConnection = new WeakMap<object, number>();

  /** Sets the status of a service ("" is the server as a whole) and tells its watchers. */
  set(service: string, value: ServingStatus): void {
    if (this.statuses.get(service) === value) return;
    const known = this.statuses.has(service);
    this.statuses.set(service, value);
    if (!known) {
      // Watchers of a name that was unknown until now move to it.
      for (const watcher of this.unknownWatchers) {
        if (watcher.request.service !== service) continue;
        this.unknownWatchers.delete(watcher);
        this.watchersOf(service).add(watcher);
      }
    }
    for (const watcher of this.watchers.get(service) ?? []) watcher.write({ status: value });
  }

  /** Sets every known service, and the server, to one status. */
  setAll(value: ServingStatus): void {
    for (const service of [...this.statuses.keys()]) this.set(service, value);
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  /** Watch streams open now (known and unknown names). */
  get watcherCount(): number {
    let count = this.unknownWatchers.size;
    for (const set of this.watchers.values()) count += set.size;
    return count;
  }

  /** Ends every Watch stream, as the server shuts down. */
  close(): void {
    for (const set of this.watchers.values()) for (const watcher of set) watcher.end();
    for (const watcher of this.unknownWatchers) watcher.end();
    this.watchers.clear();
    this.unknownWatchers.clear();
  }

  private watchersOf(service: string): Set<Watcher> {
    let set = this.watchers.get(service);
    if (!set) this.watchers.set(service, (set = new Set()));
    return set;
  }

  private forget(watcher: Watcher, connection: object | undefined): void {
    const service = watcher.request.service;
    const set = this.watchers.get(service);
    const removed = (set?.delete(watcher) ?? false) || this.unknownWatchers.delete(watcher);
    if (set?.size === 0) this.watchers.delete(service);
    if (removed) this.release(connection);
  }

  private release(connection: object | undefined): void {
    if (!connection) return;
    const count = (this.perConnection.get(connection) ?? 1) - 1;
    if (count > 0) this.perConnection.set(connection, count);
    else this.perConnection.delete(connection);
  }

  readonly implementation: HealthServer = {
    check: (call, callback) => {
      const refusal = refusalOf(call.request);
      if (refusal) {
        callback(refusal);
        return;
      }
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
      const refusal = refusalOf(call.request);
      if (refusal) {
        call.emit("error", refusal);
        return;
      }
      const connection = sessionOf(call);
      const open = connection ? (this.perConnection.get(connection) ?? 0) : 0;
      if (open >= MAX_WATCHERS_PER_CONNECTION) {
        call.emit("error", {
          code: status.RESOURCE_EXHAUSTED,
          details: `health: at most ${MAX_WATCHERS_PER_CONNECTION} Watch streams per connection`,
        });
        return;
      }
      if (connection) this.perConnection.set(connection, open + 1);
      const service = call.request.service;
      const value = this.statuses.get(service);
      if (value === undefined) this.unknownWatchers.add(call);
      else this.watchersOf(service).add(call);
      call.write({ status: value ?? ServingStatus.SERVICE_UNKNOWN });
      call.once("cancelled", () => this.forget(call, connection));
    },
    list: (call, callback) => {
      const refusal = refusalOf(call.request as unknown as MalformedRequest, LIST_REQUEST);
      if (refusal) {
        callback(refusal);
        return;
      }
      const statuses: Record<string, HealthCheckResponse> = {};
      for (const [service, value] of this.statuses) statuses[service] = { status: value };
      callback(null, { statuses });
    },
  };
}
