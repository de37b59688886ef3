import type { ServiceDefinition } from "@grpc/grpc-js";
import type { Peer } from "../client/peer";
import { createServiceProcess, runMain, serve } from "./service-process";
import type { ServiceModule } from "./service-module";
import { collectIdleGarbage } from "./idle-gc";
import { onShutdownSignal } from "./shutdown";

/**
 * A service's whole life as a process, the same for every service: read the topology, open
 * and migrate the store, compose the service, serve it, start its background work (and idle-gc.ts), and on
 * SIGTERM or SIGINT drain and close in order. A failure to start exits 1 (runMain).
 */
export function runService(name: string, module: ServiceModule<never>): void {
  runMain(name, async () => {
    const service = createServiceProcess(name);
    const { topology, log, server, faults } = service;
    const store = await service.openStore(module.migrations, module.durability);
    const peers: Peer<ServiceDefinition>[] = [];
    const connect = <S extends ServiceDefinition>(definition: S, peer: string): Peer<S> => {
      const client = service.connect(definition, peer);
      peers.push(client as unknown as Peer<ServiceDefinition>);
      return client;
    };
    const composed = await module.compose({ store, connect, log, topology });
    for (const { definition, handlers } of composed.services) {
      server.addService(definition, handlers);
    }
    await serve(service);
    composed.start?.();
    collectIdleGarbage(log, () => server.callsStarted);

    onShutdownSignal(log, async () => {
      faults.stop();
      await composed.beforeDrain?.();
      await server.shutdown();
      await composed.afterDrain?.();
      for (const peer of peers) peer.close();
      await store.close();
    });
  });
}
