import type { ServiceDefinition } from "@grpc/grpc-js";
import { createAccessControl } from "./access";
import { createPeer, type Peer } from "./client";
import { createEndUserAuthenticator } from "./end-user";
import { watchFaults, type FaultSource } from "./faults";
import { createMeshIdentity, PLAINTEXT_WARNING, type MeshIdentity } from "./identity/credentials";
import { createLogger, type Logger } from "./logger";
import { createMeshServer, type MeshServer } from "./server";
import { spiffeId } from "./identity/spiffe";
import { setEdgeCallers } from "./user-scope";
import { createTokenVerifier, jwksFile, jwksPath } from "./tokens";
import { loadTopology, serviceOf, targetOf, type ServiceTopology, type Topology } from "./topology";
import { describeStore } from "./store-location";

/** What every service process starts from, before it opens its store and adds its handlers. */
export interface ServiceProcess {
  topology: Topology;
  /** This instance's part of the topology (`MESH_INSTANCE`). */
  config: ServiceTopology;
  /** Labelled `<name>-<instance>`. */
  log: Logger;
  /**
   * With the topology's limits, the service's faults (which follow the file live), and
   * bearer tokens verified against users' published keys (tokens.ts).
   */
  server: MeshServer;
  /** Stop it on shutdown. */
  faults: FaultSource;
  /** Its certificate (`spiffe://<trustDomain>/service/<name>`), or anonymous in plaintext. */
  identity: MeshIdentity;
  /** A client of service `name`, with the policy, this logger and this identity. */
  readonly connect: <S extends ServiceDefinition>(definition: S, name: string) => Peer<S>;
}

/**
 * Reads the topology for service `name`, and builds its logger and server. The steps after
 * this stay in each main.ts, in order: open the store, add the handlers, {@link serve},
 * install the shutdown handler.
 */
export function createServiceProcess(name: string): ServiceProcess {
  const topology = loadTopology();
  const config = serviceOf(topology, name);
  const log = createLogger({ service: name, instance: `${name}-${config.instance}` });
  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, name, log);
  const identity = createMeshIdentity(topology.security, { kind: "service", name });
  if (identity.plaintext) log.warn(PLAINTEXT_WARNING);
  else {
    const { trustDomain, clients } = topology.security;
    setEdgeCallers(
      clients.map((client) => spiffeId(trustDomain, { kind: "service", name: client })),
    );
  }
  // Bearer tokens are checked against the keys users publishes in the data folder.
  const endUsers = createEndUserAuthenticator(
    createTokenVerifier({ jwks: jwksFile(jwksPath(topology.dataDir)) }),
  );
  const server = createMeshServer({
    log,
    limits: topology.limits,
    faults,
    endUsers,
    credentials: identity.serverCredentials(),
    access: createAccessControl({ security: topology.security, limits: topology.limits, log }),
  });
  const connect = <S extends ServiceDefinition>(definition: S, peer: string): Peer<S> =>
    createPeer(definition, {
      target: targetOf(topology, peer),
      policy: topology.policy,
      log,
      ...identity.dialOptions(peer),
    });
  return { topology, config, log, server, faults, identity, connect };
}

/** Binds this instance's address and reports every service SERVING. */
export async function serve({ server, config, log }: ServiceProcess): Promise<void> {
  const port = await server.listen(config.listen);
  server.ready();
  log.info({ address: config.listen, port, store: describeStore(config.store) }, "serving");
}

/** Runs a service's main; a failure to start prints one line and exits 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
