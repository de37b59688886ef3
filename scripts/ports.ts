import { createServer } from "node:net";

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

/** Free ports p on 127.0.0.1 such that p + step (the port of a second instance) is free too. */
export async function freeInstancePorts(count: number, step: number): Promise<number[]> {
  const chosen: number[] = [];
  while (chosen.length < count) {
    const [port] = await freePorts(1);
    if (port + step < 65_536 && !chosen.includes(port) && (await canBind(port + step))) {
      chosen.push(port);
    }
  }
  return chosen;
}
