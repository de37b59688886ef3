import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { DialOptions } from "../mesh/identity";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving,
} from "../gen/grpc/health/v1/health";

const POLL_MS = 100;

const PLAINTEXT: DialOptions = { credentials: credentials.createInsecure(), channelOptions: {} };

/**
 * The overall health of a server, by name ("SERVING", "NOT_SERVING", or "UNREACHABLE").
 * `dial` defaults to plaintext; an mTLS mesh wants the operator's (`dialOptions`).
 */
export function checkHealth(
  address: string,
  timeoutMs = 1_000,
  dial: DialOptions = PLAINTEXT,
): Promise<string> {
  const client = new HealthClient(address, dial.credentials, dial.channelOptions);
  return new Promise<string>((resolve) => {
    client.check(
      { service: "" },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, response) => {
        client.close();
        resolve(err ? "UNREACHABLE" : (Serving[response.status] ?? "UNKNOWN"));
      },
    );
  });
}

/** Whether something accepts TCP connections at `host:port` now. */
export function portOpen(address: string): Promise<boolean> {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(address.slice(colon + 1)) });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Polls the health service until it answers SERVING; rejects after `timeoutMs`. Each health
 * check over TLS builds a secure context and a handshake on both sides (most of start:all's
 * own CPU when it asked every 100 ms), so it asks only once the port accepts connections.
 * Between tries it waits `pause(POLL_MS)`: by default that long, or less (start:all's members
 * wake it when they log, members.ts).
 */
export async function waitForServing(
  address: string,
  timeoutMs: number,
  stillRunning = () => true,
  dial?: DialOptions,
  pause: (ms: number) => Promise<void> = sleep,
): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    if ((await portOpen(address)) && (await checkHealth(address, POLL_MS * 5, dial)) === "SERVING")
      return;
    if (!stillRunning()) throw new Error(`${address} exited before it was SERVING`);
    if (Date.now() > giveUp) throw new Error(`${address} was not SERVING after ${timeoutMs} ms`);
    await pause(POLL_MS);
  }
}
