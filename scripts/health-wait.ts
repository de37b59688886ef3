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

/** Polls the health service until it answers SERVING; rejects after `timeoutMs`. */
export async function waitForServing(
  address: string,
  timeoutMs: number,
  stillRunning = () => true,
  dial?: DialOptions,
): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    if ((await checkHealth(address, POLL_MS * 5, dial)) === "SERVING") return;
    if (!stillRunning()) throw new Error(`${address} exited before it was SERVING`);
    if (Date.now() > giveUp) throw new Error(`${address} was not SERVING after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
