import {
  createMeshServer,
  loadTopology,
  silentLogger,
  type MeshServer,
  type PolicyConfig,
} from "../mesh";
import { type MeshServerOptions } from "../mesh/server";

/** A running server on an ephemeral port, for tests. */
export interface TestServer {
  address: string;
  server: MeshServer;
  close(): Promise<void>;
}

/**
 * Starts a mesh server (on an ephemeral port unless `address` names one) with whatever
 * `register` adds, marked ready; `options` are passed on (end users, limits, …).
 * Close it in afterEach/afterAll.
 */
export async function startTestServer(
  register: (server: MeshServer) => void,
  address = "127.0.0.1:0",
  options: Partial<MeshServerOptions> = {},
): Promise<TestServer> {
  const server = createMeshServer({ log: silentLogger(), shutdownGraceMs: 1_000, ...options });
  register(server);
  const port = await server.listen(address);
  server.ready();
  return { address: `127.0.0.1:${port}`, server, close: () => server.shutdown() };
}

/** The policy from the project's mesh.yaml, as services use it. */
export function projectPolicy(): PolicyConfig {
  return loadTopology({}).policy;
}

/** Resolves to the rejection of a promise, failing the test when it resolves instead. */
export async function rejectionOf(
  promise: Promise<unknown>,
): Promise<Error & { code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    return err as Error & { code: number; details: string };
  }
  throw new Error("expected the call to fail, but it succeeded");
}
