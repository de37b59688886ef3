import type { ServiceDefinition } from "@grpc/grpc-js";
import { createAccessControl } from "../server/access";
import { createPeer, type Peer } from "../client/peer";
import { connectionAgeOptions } from "../server/connection-age";
import { createEndUserAuthenticator } from "../identity/end-user";
import { faultsOverrideFile, watchFaults, type FaultSource } from "../server/faults";
import { createMeshIdentity, PLAINTEXT_WARNING, type MeshIdentity } from "../identity/credentials";
import { listenHealth, type HealthListener } from "../server/health-listener";
import { createLogger, type Logger } from "../telemetry/logger";
import { loadDescriptors } from "../config/descriptors";
import { createMeshServer, type MeshServer } from "../server/server";
import { spiffeId } from "../identity/spiffe";
import { setEdgeCallers } from "../identity/user-scope";
import { createTokenVerifier, jwksFile, jwksPath } from "../identity/tokens";
import { adminPortOf, createTelemetry, memberName, type Telemetry } from "../telemetry";
import {
  loadTopology,
  portSetting,
  serviceOf,
  targetOf,
  type ServiceTopology,
  type Topology,
} from "../config/topology";
import { describeStore } from "../config/store-location";
import { openStore } from "../store/open";
import type { Store, StoreOptions } from "../store/store";
import { waitForPort } from "./port-wait";

const MAX_PORT = 65_535;

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
  /** Metrics and traces, served by {@link serve} on the admin port; give it to peers and store. */
  telemetry: Telemetry;
  /** Opens this instance's store (`config.store`) with this logger and telemetry. */
  readonly openStore: (
    migrations: StoreOptions["migrations"],
    durability?: StoreOptions["durability"],
  ) => Promise<Store>;
}

/**
 * Reads the topology for service `name`, and builds its logger and server. The steps after
 * this stay in each main.ts, in order: open the store, add the handlers, {@link serve},
 * install the shutdown handler.
 */
export function createServiceProcess(name: string): ServiceProcess {
  const topology = loadTopology();
  const config = serviceOf(topology, name);
  const member = memberName(name, config.instance);
  const log = createLogger({ service: name, instance: member });
  const telemetry = createTelemetry({
    service: name,
    member,
    log,
    policy: topology.policy,
    descriptors: loadDescriptors(),
  });
  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, name, log, {
    overrideFile: faultsOverrideFile(topology),
  });
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
    telemetry,
    credentials: identity.serverCredentials(),
    grpcOptions: connectionAgeOptions(process.env),
    access: createAccessControl({ security: topology.security, limits: topology.limits, log }),
  });
  const connect = <S extends ServiceDefinition>(definition: S, peer: string): Peer<S> =>
    createPeer(definition, {
      target: targetOf(topology, peer),
      policy: topology.policy,
      log,
      telemetry,
      ...identity.dialOptions(peer),
    });
  const open = (
    migrations: StoreOptions["migrations"],
    durability?: StoreOptions["durability"],
  ): Promise<Store> => openStore({ file: config.store, migrations, durability, log, telemetry });
  return { topology, config, log, server, faults, identity, connect, telemetry, openStore: open };
}

/**
 * Binds this instance's address, once its certificates are read, and reports every service
 * SERVING. A port another socket holds is waited for (port-wait.ts), with messages that name
 * the setting moving it. With
 * `MESH_HEALTH_PORT` set, health is served in plaintext on that port of the same host too
 * (see health-listener.ts); the listener is returned so that tests can close it.
 */
export async function serve(
  {
    server,
    config,
    log,
    telemetry,
    topology,
    identity,
  }: Pick<ServiceProcess, "server" | "config" | "log" | "telemetry"> &
    Partial<Pick<ServiceProcess, "topology" | "identity">>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HealthListener | undefined> {
  const colon = config.listen.lastIndexOf(":");
  const host = config.listen.slice(0, colon);
  const wanted = Number(config.listen.slice(colon + 1));
  const setting = topology
    ? portSetting(topology, config.name, config.instance)
    : `services.${config.name}.port`;
  await waitForPort({ host, port: wanted, what: "gRPC", setting, log });
  // Listening before the certificates are read would drop the first callers' connections.
  await identity?.certificatesLoaded();
  const port = await server.listen(config.listen);
  // An ephemeral gRPC port (tests) gets an ephemeral admin port: adminPortOf(bound) may be taken.
  const ephemeral = wanted === 0;
  const adminPort = ephemeral ? 0 : adminPortOf(port);
  await waitForPort({
    host,
    port: adminPort,
    what: "admin (metrics)",
    setting: `${setting}: the admin port is the gRPC port − 30000`,
    log,
  });
  const admin = await telemetry.serveAdmin(host, adminPort);
  const healthPort = env.MESH_HEALTH_PORT;
  let health: HealthListener | undefined;
  if (healthPort !== undefined) {
    if (!/^\d+$/.test(healthPort) || Number(healthPort) > MAX_PORT) {
      throw new Error(`MESH_HEALTH_PORT: expected a port number, got "${healthPort}"`);
    }
    health = await listenHealth(server.health, `${host}:${healthPort}`, topology?.limits);
    log.info({ healthPort: health.port }, "plaintext health listener");
  }
  server.ready();
  log.info(
    {
      address: config.listen,
      port,
      store: describeStore(config.store),
      metrics: `http://${host}:${admin.port}/metrics`,
    },
    "serving",
  );
  return health;
}

/** Runs a service's main; a failure to start prints one line and exits 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
