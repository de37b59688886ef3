import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTopology, silentLogger, type Topology } from "../mesh";
import { createGateway, type Gateway } from "../services/gateway/gateway";
import { startShop, type ShopOptions, type TestShop } from "./shop";

/** The in-process shop, notifications consuming its events, and a gateway over them. */
export interface GatewayShop {
  shop: TestShop;
  gateway: Gateway;
  /** `http://127.0.0.1:<port>` of the gateway's public API. */
  baseUrl: string;
  /** `http://127.0.0.1:<port>` of its admin listener (plaintext: the operator's secret). */
  adminUrl: string;
  /** The operator's secret for the admin listener. */
  adminSecret: string;
  /** The topology the gateway was given: the shop's ports, a temporary data folder. */
  topology: Topology;
  addresses: Record<string, string>;
  stop(): Promise<void>;
}

const portOf = (address: string): string => address.slice(address.lastIndexOf(":") + 1);

/**
 * A topology of the project's mesh.yaml, one instance per service at the given addresses,
 * with its data folder `dataDir`.
 */
export function topologyAt(addresses: Record<string, string>, dataDir: string): Topology {
  // The in-process shop serves plaintext, so the gateway dials it so.
  const env: NodeJS.ProcessEnv = { MESH_DATA_DIR: dataDir, MESH_PLAINTEXT: "1" };
  for (const [name, address] of Object.entries(addresses)) {
    env[`${name.toUpperCase()}_PORT`] = portOf(address);
    env[`${name.toUpperCase()}_INSTANCES`] = "1";
  }
  return loadTopology(env);
}

/** Starts the shop (real gRPC, real SQLite), notifications, and a gateway on a free port. */
export async function startGatewayShop(options: ShopOptions = {}): Promise<GatewayShop> {
  // Notifications consume the shop's events, as in start:all, so that the notification routes
  // have something to list.
  const shop = await startShop({ ...options, background: ["notifications"] });
  const log = silentLogger();
  const dataDir = mkdtempSync(join(tmpdir(), "gateway-test-"));
  const addresses = shop.addresses;
  const topology = topologyAt(addresses, dataDir);
  const adminSecret = `test-secret-${process.pid}`;
  const gateway = createGateway({ topology, log, adminSecret });
  const port = await gateway.listen(0);
  const adminPort = await gateway.listenAdmin(0);
  return {
    shop,
    gateway,
    baseUrl: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    adminSecret,
    topology,
    addresses,
    async stop() {
      await gateway.close();
      await shop.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
