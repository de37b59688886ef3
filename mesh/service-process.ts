import { faultsOverrideFile, watchFaults, type FaultSource } from "./faults";
import { createLogger, type Logger } from "./logger";
import { createMeshServer, type MeshServer } from "./server";
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
  const faults = watchFaults(topology.file, name, log, {
    overrideFile: faultsOverrideFile(topology),
  });
  const server = createMeshServer({ log, limits: topology.limits, faults });
  return { topology, config, log, server, faults };
}

/** Binds this instance's address and reports every service SERVING. */
export async function serve({ server, config, log }: ServiceProcess): Promise<void> {
  const port = await server.listen(config.listen);
  server.ready();
  log.info({ address: config.listen, port, store: config.store }, "serving");
}

/** Runs a service's main; a failure to start prints one line and exits 1. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(`${name} failed to start:`, err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
