import type { Topology } from "../../mesh";

/** The gateway's HTTP port unless GATEWAY_PORT says otherwise. */
export const DEFAULT_GATEWAY_PORT = 8080;

/**
 * Where the gateway listens: the mesh's host (the address every service binds, mesh.yaml
 * `host` / MESH_HOST) and GATEWAY_PORT, default 8080.
 *
 * @throws Error naming GATEWAY_PORT when it is not a port number.
 */
export function gatewayAddress(
  topology: Topology,
  env: NodeJS.ProcessEnv = process.env,
): { host: string; port: number; url: string } {
  const port = Number(env.GATEWAY_PORT ?? DEFAULT_GATEWAY_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new Error(`GATEWAY_PORT: expected a port number, got "${env.GATEWAY_PORT}"`);
  }
  const listen = Object.values(topology.services)[0]?.listen ?? "127.0.0.1:0";
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return { host, port, url: `http://${host.includes(":") ? `[${host}]` : host}:${port}` };
}
