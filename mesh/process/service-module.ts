import type { ServiceDefinition } from "@grpc/grpc-js";
import type { Peer } from "../client/peer";
import type { Topology } from "../config/topology";
import type { ServiceHandlers } from "../server/server";
import type { Migration, Store } from "../store/store";
import type { Logger } from "../telemetry/logger";

/** What a service is built from: its own store, clients of its peers, its logger and topology. */
export interface ServiceDeps {
  /** The service's own store, open and migrated. */
  readonly store: Store;
  /** A client of another service of the mesh, by its name in mesh.yaml, closed on shutdown. */
  readonly connect: <S extends ServiceDefinition>(definition: S, name: string) => Peer<S>;
  readonly log: Logger;
  readonly topology: Topology;
}

/** One gRPC service a composed service serves: a definition from gen/ and its handlers. */
export interface ServedService {
  readonly definition: ServiceDefinition;
  readonly handlers: ServiceHandlers<ServiceDefinition>;
}

/** Pairs a generated definition with its handlers, type-checked against each other. */
export function served<S extends ServiceDefinition>(
  definition: S,
  handlers: ServiceHandlers<S>,
): ServedService {
  return { definition, handlers };
}

/**
 * A service built from its dependencies: the gRPC services it serves, and the work that runs
 * beside them. Every hook is optional; run-service.ts calls them in this order.
 */
export interface ComposedService {
  readonly services: readonly ServedService[];
  /** Starts background work (recovery, consumers, relays) once the server is serving. */
  start?(): void;
  /**
   * On shutdown, before the server drains: ends what would hold the drain up until the grace
   * runs out (event streams, which never end by themselves; consumers of other services).
   */
  beforeDrain?(): Promise<void>;
  /** On shutdown, after the server drained and before the store closes: stops the rest. */
  afterDrain?(): Promise<void>;
}

/**
 * A service of the mesh, as `services/<name>/compose.ts` exports it: its store's migrations
 * and durability, and how its parts are put together. `main.ts` runs it (run-service.ts); the
 * test harness builds it on in-memory stores with the same `compose`.
 */
export interface ServiceModule<
  Options = undefined,
  Composed extends ComposedService = ComposedService,
> {
  readonly migrations: readonly Migration[];
  /** Store durability (see StoreOptions); defaults to "normal". */
  readonly durability?: "full" | "normal";
  /** `options` are for tests (cheaper password hashing, a given key); main.ts passes none. */
  compose(deps: ServiceDeps, options?: Options): Promise<Composed>;
}
