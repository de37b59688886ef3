/**
 * A benchmark server process: `node dist/bench/echo-server.js raw|mesh|telemetry`. Serves the
 * echo contract on an ephemeral port on 127.0.0.1, either as a plain grpc-js server (`raw`), as
 * a mesh server with the project's limits (`mesh`), or as one with telemetry as services run it
 * (`telemetry`: metrics, trace context, spans as `MESH_TRACE_SAMPLE` says); prints
 * `LISTENING <port>`, and exits on SIGTERM.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { createMeshServer, loadTopology, silentLogger } from "../mesh";
import { createFaultSource } from "../mesh/server";
import { createTelemetry } from "../mesh/telemetry";
import { readFlags, usageError } from "../scripts/cli";
import { exitWithParent } from "./child";
import { EchoService } from "./echo";

async function listenRaw(): Promise<number> {
  const server = new Server();
  server.addService(EchoService, {
    echo: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
      callback(null, call.request),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

async function listenMesh(withTelemetry: boolean): Promise<number> {
  // As a service runs it: the topology's limits and a fault source, with no fault in force.
  const topology = loadTopology();
  const server = createMeshServer({
    log: silentLogger(),
    limits: topology.limits,
    faults: createFaultSource("bench", []),
    telemetry: withTelemetry
      ? createTelemetry({ service: "bench", member: "bench-1", log: silentLogger() })
      : undefined,
  });
  server.addService(EchoService, { echo: (request: Buffer) => Promise.resolve(request) });
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  return port;
}

const SCRIPT = {
  name: "echo-server",
  usage: `usage: node dist/bench/echo-server.js raw|mesh|telemetry

A server of npm run bench (section a): serves the echo contract on an ephemeral port of
127.0.0.1 as a plain grpc-js server (raw), a mesh server (mesh), or a mesh server with
telemetry (metrics, trace context, spans as MESH_TRACE_SAMPLE says); prints LISTENING <port>
and exits on SIGTERM.

  -h, --help          show this and exit`,
  options: {},
  positionals: true,
} as const;

async function main(): Promise<void> {
  const { positionals } = readFlags(SCRIPT);
  const kind = positionals[0];
  if (positionals.length !== 1 || (kind !== "raw" && kind !== "mesh" && kind !== "telemetry"))
    usageError(SCRIPT, `expected one of raw, mesh, telemetry; got "${positionals.join(" ")}"`);
  const port = kind === "raw" ? await listenRaw() : await listenMesh(kind === "telemetry");
  exitWithParent();
  console.log(`LISTENING ${port}`);
}

main().catch((err: unknown) => {
  console.error("echo-server failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
