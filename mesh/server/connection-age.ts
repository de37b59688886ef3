import type { ServerOptions } from "@grpc/grpc-js";
import { parseDuration } from "../config/duration";

/**
 * grpc-js server options from `MESH_MAX_CONNECTION_AGE` (for example "60s"): each client
 * connection gets a GOAWAY after that long, so the client reconnects and resolves its
 * `dns:///` target again. grpc-js only re-resolves DNS when a connection drops, so without
 * this, pods added by an autoscaler behind a headless Service would get no traffic from
 * clients already connected. Calls in flight finish on the old connection. Unset: no limit.
 *
 * @throws Error naming the variable when its value is not a duration.
 */
export function connectionAgeOptions(env: NodeJS.ProcessEnv): ServerOptions {
  const text = env.MESH_MAX_CONNECTION_AGE;
  if (text === undefined) return {};
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    throw new Error(`MESH_MAX_CONNECTION_AGE: expected a duration such as "60s", got "${text}"`);
  }
  return { "grpc.max_connection_age_ms": ms };
}
