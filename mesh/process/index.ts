/** A service process: its parts built from the topology, its start and its shutdown. */
export { runService } from "./run-service";
export {
  served,
  type ComposedService,
  type ServedService,
  type ServiceDeps,
  type ServiceModule,
} from "./service-module";
export { createServiceProcess, runMain, serve, type ServiceProcess } from "./service-process";
export { collectIdleGarbage } from "./idle-gc";
export { onShutdownSignal } from "./shutdown";
