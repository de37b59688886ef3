import { credentials, Metadata } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving,
} from "../gen/grpc/health/v1/health";

const POLL_MS = 100;

/** The overall health of a server, by name ("SERVING", "NOT_SERVING", or "UNREACHABLE"). */
export function checkHealth(address: string, timeoutMs = 1_000): Promise<string> {
  const client = new HealthClient(address, credentials.createInsecure());
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
): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    if ((await checkHealth(address, POLL_MS * 5)) === "SERVING") return;
    if (!stillRunning()) throw new Error(`${address} exited before it was SERVING`);
    if (Date.now() > giveUp) throw new Error(`${address} was not SERVING after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
