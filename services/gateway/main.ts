import {
  collectIdleGarbage,
  createLogger,
  loadTopology,
  onShutdownSignal,
  runMain,
} from "../../mesh";
import { gatewayAddress } from "./address";
import { browserPortWarnings } from "./browser-ports";
import { createGateway } from "./gateway";

async function main(): Promise<void> {
  const topology = loadTopology();
  const { host, port, adminPort } = gatewayAddress(topology);
  const log = createLogger({ service: "gateway", instance: "gateway-1" });
  // start:all tells the dashboard where its supervisor's restarts and crash loops are.
  const supervisorMetricsUrl = process.env.MESH_SUPERVISOR_METRICS_URL || undefined;
  const gateway = createGateway({
    topology,
    log,
    adminSecret: process.env.GATEWAY_ADMIN_SECRET,
    supervisorMetricsUrl,
  });
  const bound = await gateway.listen(port, host);
  const admin = await gateway.listenAdmin(adminPort, host);
  log.info({ host, port: bound }, "serving the REST API, /openapi.json and /metrics");
  for (const warning of browserPortWarnings({ port: bound, adminPort: admin })) log.warn(warning);
  const { secret } = gateway.operator;
  const scheme = gateway.operator.https ? "https" : "http";
  log.info(
    { host, port: admin },
    secret
      ? // Plaintext mode: the secret is the operator's only credential; the URL fragment never
        // reaches a server's log, and the page keeps it for the session.
        `admin listener (dashboard, faults, traces): ${scheme}://${host}:${admin}/#secret=${secret}`
      : `admin listener (dashboard, faults, traces): ${scheme}://${host}:${admin}/ (an operator's client certificate)`,
  );

  let requests = 0;
  for (const app of [gateway.api, gateway.admin]) app.server.on("request", () => requests++);
  collectIdleGarbage(log, () => requests);
  onShutdownSignal(log, () => gateway.close());
}

runMain("gateway", main);
