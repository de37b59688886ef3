import { createServer } from "node:net";
// Only the port arithmetic: the ports helper stays free of the mesh's heavier modules.
import { adminPortOf } from "../mesh/telemetry";

const canBind = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** Free TCP ports on 127.0.0.1, found by binding port 0. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const server = createServer();
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Whether every port of `ports` is below 65536 and can be bound now. */
async function allFree(ports: number[]): Promise<boolean> {
  for (const port of ports) if (port >= 65_536 || !(await canBind(port))) return false;
  return true;
}

/**
 * Free ports p on 127.0.0.1 such that p + step (the port of a second instance) is free too,
 * and so are both members' admin ports (adminPortOf, see mesh/telemetry).
 */
export async function freeInstancePorts(count: number, step: number): Promise<number[]> {
  const chosen: number[] = [];
  while (chosen.length < count) {
    const [port] = await freePorts(1);
    const others = [port + step, adminPortOf(port), adminPortOf(port + step)];
    const taken = chosen.flatMap((p) => [p, p + step, adminPortOf(p), adminPortOf(p + step)]);
    if (![port, ...others].some((p) => taken.includes(p)) && (await allFree(others))) {
      chosen.push(port);
    }
  }
  return chosen;
}
