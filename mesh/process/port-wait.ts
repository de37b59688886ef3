import { createServer } from "node:net";
import type { Logger } from "../telemetry/logger";

/** Options for {@link waitForPort}. */
export interface PortWaitOptions {
  host: string;
  port: number;
  /** What the port is for, in messages: "gRPC" or "admin (metrics)". */
  what: string;
  /** The setting that moves it, in messages (config/topology.ts `portSetting`). */
  setting: string;
  log: Logger;
  /** Give up after this long. Defaults to 60 seconds. */
  timeoutMs?: number;
  /** How often to try. Defaults to 200 ms. */
  retryMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_RETRY_MS = 200;
// A waiting member says so again this often, so that a long wait is never silent.
const REMIND_EVERY_MS = 5_000;

/** Whether `host:port` can be bound now (bound and released at once). */
function canBind(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(undefined)));
  });
}

/**
 * Resolves once `host:port` is free to bind, waiting while another socket holds it
 * (EADDRINUSE): the default ports lie in Linux's ephemeral range (32768–60999), so another
 * process's outgoing connection can hold one for a while, and a restarted member should wait
 * for it rather than fail (issue 14). The wait is logged at once and every few seconds, naming
 * the port and the setting that moves it. grpc-js cannot retry a failed bind on the same
 * server (it keeps the failure), hence the check before binding; a socket taking the port in
 * between still fails the bind, and the supervisor restarts the member.
 *
 * @throws Error naming the port and the setting, after `timeoutMs`, or at once for any other
 * error than EADDRINUSE (EACCES, an address not on this host).
 */
export async function waitForPort(options: PortWaitOptions): Promise<void> {
  const { host, port, what, setting, log } = options;
  if (port === 0) return;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
  const started = Date.now();
  let remindAt = 0;
  for (;;) {
    const err = await canBind(host, port);
    if (!err) {
      if (remindAt !== 0) {
        log.info({ port, waitedMs: Date.now() - started }, `${what} port ${port} is free again`);
      }
      return;
    }
    const waited = Date.now() - started;
    const moveIt = `to use another port, set ${setting}`;
    if (err.code !== "EADDRINUSE") {
      throw new Error(`cannot listen on ${what} port ${host}:${port} (${err.code}); ${moveIt}`);
    }
    if (waited >= timeoutMs) {
      throw new Error(
        `${what} port ${host}:${port} is still taken by another socket after ${Math.round(waited / 1000)} s; ${moveIt}`,
      );
    }
    if (Date.now() >= remindAt) {
      log.warn(
        { port, waitedMs: waited, timeoutMs },
        `${what} port ${host}:${port} is taken by another socket (EADDRINUSE); waiting for it, ` +
          `retrying every ${retryMs} ms for up to ${timeoutMs / 1000} s; ${moveIt}`,
      );
      remindAt = Date.now() + REMIND_EVERY_MS;
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
