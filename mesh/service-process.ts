import { watchFaults, type FaultSource } from "./faults";
import { createLogger, type Logger } from "./logger";
import { loadDescriptors } from "./descriptors";
import { createMeshServer, type MeshServer } from "./server";
import { adminPortOf, createTelemetry, memberName, type Telemetry } from "./telemetry";
import { loadTopology, serviceOf, type ServiceTopology, type Topology } from "./topology";

/** What every service process starts from, before it opens its store and adds its handlers. */
export interface ServiceProcess {
  topology: Topology;
  /** This instance's part of the topology (`MESH_INSTANCE`). */
  config: ServiceTopology;
  /** Labelled `<name>-<instance>`. */
  log: Logger;
  /** With the topology's limits and the service's faults, which follow the file live. */
  server: MeshServer;
  /** Stop it on shutdown. */
  faults: FaultSource;
  /** Metrics and traces, served by {@link serve} on the admin port; give it to peers and store. */
  telemetry: Telemetry;
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
  const log = createLogger({ service: name, instance: `${name}-${config.instance}` }).child({
    member,
  });
  const telemetry = createTelemetry({
    service: name,
    member,
    log,
    policy: topology.policy,
    descriptors: loadDescriptors(),
  });
  // Faults follow the topology file while the service runs; limits are read once.
  const faults = watchFaults(topology.file, name, log);
  const server = createMeshServer({ log, limits: topology.limits, faults, telemetry });
  return { topology, config, log, server, faults, telemetry };
}

/**
 * Binds this instance's address, starts its admin server (`/metrics`, `/traces`, `/healthz`
 * on the gRPC port + 1000) and reports every service SERVING.
 */
export async function serve({ server, config, log, telemetry }: ServiceProcess): Promise<void> {
  const port = await server.listen(config.listen);
  const colon = config.listen.lastIndexOf(":");
  const host = config.listen.slice(0, colon);
  // An ephemeral gRPC port (tests) gets an ephemeral admin port: bound + 1000 may be taken.
  const ephemeral = config.listen.slice(colon + 1) === "0";
  const admin = await telemetry.serveAdmin(host, ephemeral ? 0 : adminPortOf(port));
  server.ready();
  log.info(
    {
      address: config.listen,
      port,
      store: config.store,
      metrics: `http://${host}:${admin.port}/metrics`,
    },
    "serving",
  );
}

/** Runs a service's main; a failure to start prints one line and exits 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
