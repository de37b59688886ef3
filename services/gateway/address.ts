import { type Topology } from "../../mesh";
import { adminPortOf } from "../../mesh/telemetry";

/** The gateway's HTTP port unless GATEWAY_PORT says otherwise. */
export const DEFAULT_GATEWAY_PORT = 8080;

const MAX_PORT = 65_535;

/** A port from `env[name]`, or `fallback`; an error naming the variable otherwise. */
function portFrom(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const port = Number(env[name] ?? fallback);
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
    throw new Error(`${name}: expected a port number, got "${env[name]}"`);
  }
  return port;
}

/**
 * Where the gateway listens: the mesh's host (the address every service binds, mesh.yaml
 * `host` / MESH_HOST), the public API on GATEWAY_PORT (default 8080) and the admin listener
 * on GATEWAY_ADMIN_PORT (default the mesh's admin port of it, `adminPortOf`: 9080).
 *
 * @throws Error naming GATEWAY_PORT or GATEWAY_ADMIN_PORT when it is not a port number.
 */
export function gatewayAddress(
  topology: Topology,
  env: NodeJS.ProcessEnv = process.env,
): { host: string; port: number; url: string; adminPort: number; adminUrl: string } {
  const port = portFrom(env, "GATEWAY_PORT", DEFAULT_GATEWAY_PORT);
  const adminPort = portFrom(env, "GATEWAY_ADMIN_PORT", adminPortOf(port));
  const listen = Object.values(topology.services)[0]?.listen ?? "127.0.0.1:0";
  const host = listen.slice(0, listen.lastIndexOf(":"));
  const base = host.includes(":") ? `[${host}]` : host;
  const adminScheme = topology.security.mode === "plaintext" ? "http" : "https";
  return {
    host,
    port,
    url: `http://${base}:${port}`,
    adminPort,
    adminUrl: `${adminScheme}://${base}:${adminPort}`,
  };
}
