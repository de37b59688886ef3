import { createLogger, loadTopology, onShutdownSignal, runMain } from "../../mesh";
import { gatewayAddress } from "./address";
import { createGateway } from "./gateway";

async function main(): Promise<void> {
  const topology = loadTopology();
  const { host, port } = gatewayAddress(topology);
  const log = createLogger({ service: "gateway", instance: "gateway-1" });
  // start:all tells the dashboard where its supervisor's restarts and crash loops are.
  const supervisorMetricsUrl = process.env.MESH_SUPERVISOR_METRICS_URL || undefined;
  const gateway = createGateway({ topology, log, supervisorMetricsUrl });
  const bound = await gateway.listen(port, host);
  log.info({ host, port: bound }, "serving the REST API, /openapi.json and the dashboard at /");

  onShutdownSignal(log, () => gateway.close());
}

runMain("gateway", main);
