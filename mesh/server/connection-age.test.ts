import { connectivityState, credentials, Metadata } from "@grpc/grpc-js";
import { HealthClient } from "../../gen/grpc/health/v1/health";
import { connectionAgeOptions } from "./connection-age";
import { silentLogger } from "../telemetry/logger";
import { createMeshServer } from "./server";

const AGE_MS = 300;
const WAIT_MS = 10_000;

describe("MESH_MAX_CONNECTION_AGE", () => {
  it("sends clients a GOAWAY after the age, so they reconnect and resolve again", async () => {
    const server = createMeshServer({
      log: silentLogger(),
      shutdownGraceMs: 1_000,
      grpcOptions: connectionAgeOptions({ MESH_MAX_CONNECTION_AGE: `${AGE_MS}ms` }),
    });
    const port = await server.listen("127.0.0.1:0");
    server.ready();
    const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      await new Promise((resolve, reject) =>
        client.check({ service: "" }, new Metadata(), { deadline: Date.now() + WAIT_MS }, (err) =>
          err ? reject(err) : resolve(undefined),
        ),
      );
      const channel = client.getChannel();
      expect(channel.getConnectivityState(false)).toBe(connectivityState.READY);
      const started = Date.now();
      // READY → IDLE is the channel seeing the GOAWAY and dropping the connection.
      await new Promise<void>((resolve, reject) => {
        const watch = (): void =>
          channel.watchConnectivityState(
            channel.getConnectivityState(false),
            started + WAIT_MS,
            (err) => {
              if (err) reject(err);
              else if (channel.getConnectivityState(false) !== connectivityState.READY) resolve();
              else watch();
            },
          );
        watch();
      });
      console.log(`connection closed after ${Date.now() - started} ms (age ${AGE_MS} ms)`);
    } finally {
      client.close();
      await server.shutdown();
    }
  });

  it("is off when unset, and names the variable when it is not a duration", () => {
    expect(connectionAgeOptions({})).toEqual({});
    expect(connectionAgeOptions({ MESH_MAX_CONNECTION_AGE: "1m" })).toEqual({
      "grpc.max_connection_age_ms": 60_000,
    });
    expect(() => connectionAgeOptions({ MESH_MAX_CONNECTION_AGE: "soon" })).toThrow(
      'MESH_MAX_CONNECTION_AGE: expected a duration such as "60s", got "soon"',
    );
  });
});
