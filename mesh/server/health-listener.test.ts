import { credentials, Metadata } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health";
import { createServer, type AddressInfo } from "node:net";
import type { HealthListener } from "./health-listener";
import { silentLogger } from "../telemetry/logger";
import { createMeshServer } from "./server";
import { serve, type ServiceProcess } from "../process/service-process";
import { createTelemetry } from "../telemetry";
import { loadTopology, serviceOf } from "../config/topology";

const CALL_TIMEOUT_MS = 5_000;

/** A port nothing listens on now: bound and released by the OS's choice. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer().once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

/** The users process as main.ts builds it, on an ephemeral port. */
function usersProcess(): Pick<ServiceProcess, "server" | "config" | "log" | "telemetry"> {
  const topology = loadTopology({ USERS_PORT: "0" });
  const log = silentLogger();
  return {
    telemetry: createTelemetry({ service: "users", member: "users-1", log }),
    config: serviceOf(topology, "users", {}),
    log,
    server: createMeshServer({ log, shutdownGraceMs: 1_000 }),
  };
}

const check = (port: number): Promise<ServingStatus> => {
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise<ServingStatus>((resolve, reject) =>
    client.check(
      { service: "" },
      new Metadata(),
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, res) => (err ? reject(err) : resolve(res.status)),
    ),
  ).finally(() => client.close());
};

describe("plaintext health listener (MESH_HEALTH_PORT)", () => {
  it("answers the kubelet's grpc probe with the main server's status, through drain", async () => {
    const service = usersProcess();
    const healthPort = await freePort();
    const listener = (await serve(service, {
      MESH_HEALTH_PORT: String(healthPort),
    })) as HealthListener;
    try {
      expect(listener.port).toBe(healthPort);
      expect(await check(healthPort)).toBe(ServingStatus.SERVING);
      const stopping = service.server.shutdown();
      expect(await check(healthPort)).toBe(ServingStatus.NOT_SERVING);
      await stopping;
    } finally {
      listener.close();
    }
  });

  it("is not started without MESH_HEALTH_PORT", async () => {
    const service = usersProcess();
    expect(await serve(service, {})).toBeUndefined();
    await service.server.shutdown();
  });

  it("names the variable when its value is not a port", async () => {
    const service = usersProcess();
    await expect(serve(service, { MESH_HEALTH_PORT: "http" })).rejects.toThrow(
      'MESH_HEALTH_PORT: expected a port number, got "http"',
    );
    await service.server.shutdown();
  });
});
