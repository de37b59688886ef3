import { createLogger, loadTopology, onShutdownSignal, runMain } from "../../mesh";
import { createGateway } from "./gateway";

/** The gateway's HTTP port unless GATEWAY_PORT says otherwise. */
export const DEFAULT_GATEWAY_PORT = 8080;

async function main(): Promise<void> {
  const topology = loadTopology();
  const port = Number(process.env.GATEWAY_PORT ?? DEFAULT_GATEWAY_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`GATEWAY_PORT: expected a port number, got "${process.env.GATEWAY_PORT}"`);
  }
  const host = process.env.MESH_HOST ?? "127.0.0.1";
  const log = createLogger({ service: "gateway", instance: "gateway-1" });
  const gateway = createGateway({ topology, log });
  const bound = await gateway.listen(port, host);
  log.info(
    { url: `http://${host}:${bound}/`, openapi: `http://${host}:${bound}/openapi.json` },
    "serving",
  );

  onShutdownSignal(log, () => gateway.close());
}

runMain("gateway", main);
