import { createServer, type AddressInfo, type Server } from "node:net";
import pino from "pino";
import { waitForPort } from "./port-wait";

const SETTING = "services.orders.port in mesh.yaml (or ORDERS_PORT=<port>)";

/** A logger whose lines the test reads. */
function capturingLogger(): { log: pino.Logger; lines: { msg: string; level: number }[] } {
  const lines: { msg: string; level: number }[] = [];
  const log = pino(
    { level: "info" },
    {
      write: (line: string) => void lines.push(JSON.parse(line) as { msg: string; level: number }),
    },
  );
  return { log, lines };
}

/** Another socket holding a port on 127.0.0.1, as a stray process would. */
const hold = (): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => resolve(server));
  });
const portOf = (server: Server): number => (server.address() as AddressInfo).port;
const release = (server: Server): Promise<void> =>
  new Promise((resolve) => server.close(() => resolve()));

describe("waiting for a port another socket holds", () => {
  it("resolves once the port is freed, having said which port it waits for and what moves it", async () => {
    const holder = await hold();
    const port = portOf(holder);
    const { log, lines } = capturingLogger();
    const started = Date.now();
    setTimeout(() => void release(holder), 600);

    await waitForPort({
      host: "127.0.0.1",
      port,
      what: "gRPC",
      setting: SETTING,
      log,
      retryMs: 50,
    });

    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(550);
    expect(waited).toBeLessThan(2_000);
    expect(lines[0]).toMatchObject({ level: 40 });
    expect(lines[0].msg).toBe(
      `gRPC port 127.0.0.1:${port} is taken by another socket (EADDRINUSE); waiting for it, ` +
        `retrying every 50 ms for up to 60 s; to use another port, set ${SETTING}`,
    );
    expect(lines.at(-1)?.msg).toBe(`gRPC port ${port} is free again`);
    // Free indeed: it binds now.
    await release(
      await new Promise<Server>((resolve) => {
        const server = createServer().listen(port, "127.0.0.1", () => resolve(server));
      }),
    );
  });

  it("gives up after its timeout with a message naming the port and the setting", async () => {
    const holder = await hold();
    const port = portOf(holder);
    try {
      const { log } = capturingLogger();

      await expect(
        waitForPort({
          host: "127.0.0.1",
          port,
          what: "gRPC",
          setting: SETTING,
          log,
          timeoutMs: 300,
          retryMs: 50,
        }),
      ).rejects.toThrow(
        `gRPC port 127.0.0.1:${port} is still taken by another socket after 0 s; to use another port, set ${SETTING}`,
      );
    } finally {
      await release(holder);
    }
  });

  it("does not wait at all for a free port, nor for port 0 (any port)", async () => {
    const holder = await hold();
    const port = portOf(holder);
    await release(holder);
    const { log, lines } = capturingLogger();

    await waitForPort({ host: "127.0.0.1", port, what: "gRPC", setting: SETTING, log });
    await waitForPort({ host: "127.0.0.1", port: 0, what: "gRPC", setting: SETTING, log });

    expect(lines).toEqual([]);
  });
});
