import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { projectPolicy, rejectionOf } from "../../test/support";
import { createPeer } from "../client/peer";
import { StatusError } from "../api/errors";
import { silentLogger } from "../telemetry/logger";
import { createMeshServer, type MeshServer } from "./server";
import type { LimitsConfig } from "../config/topology";

const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const DRAIN_DELAY_MS = 300;
const LIMITS: LimitsConfig = {
  maxConcurrentCalls: 256,
  pushback: 100,
  drainDelay: DRAIN_DELAY_MS,
  shutdownGrace: 10_000,
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A users server with the drain delay above; records when each GetUser reached its handler. */
async function startServer(handlerMs = 2) {
  const arrivals: number[] = [];
  const server = createMeshServer({ log: silentLogger(), shutdownGraceMs: 2_000, limits: LIMITS });
  server.addService(UserServiceService, {
    createUser: () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub")),
    listUsers: () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub")),
    getUser: async () => {
      arrivals.push(Date.now());
      await sleep(handlerMs);
      return { user: USER };
    },
  });
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  return { server, address: `127.0.0.1:${port}`, arrivals };
}

/** Follows a server's overall health: when it went NOT_SERVING, and when the stream ended. */
function followHealth(address: string) {
  const client = new HealthClient(address, credentials.createInsecure());
  const seen = { notServingAt: Infinity, endedAt: Infinity, first: undefined as unknown };
  const stream = client.watch({ service: "" });
  stream.on("data", (res: HealthCheckResponse) => {
    seen.first ??= res.status;
    if (res.status === ServingStatus.NOT_SERVING)
      seen.notServingAt = Math.min(seen.notServingAt, Date.now());
  });
  const ended = new Promise<void>((resolve) => {
    const end = () => ((seen.endedAt = Math.min(seen.endedAt, Date.now())), resolve());
    stream.on("end", end);
    stream.on("error", end);
  });
  return { seen, ended, close: () => (stream.cancel(), client.close()) };
}

function getUser(client: Client): Promise<GetUserResponse> {
  const method = UserServiceService.getUser;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { userId: "usr_1" },
      new Metadata(),
      { deadline: Date.now() + 5_000 },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

describe("drain", () => {
  const servers: MeshServer[] = [];
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await Promise.all(servers.splice(0).map((s) => s.shutdown()));
  });

  it("reports NOT_SERVING at once, keeps serving for the drain delay, then refuses new calls", async () => {
    const b = await startServer();
    servers.push(b.server);
    const client = new Client(b.address, credentials.createInsecure());
    const health = followHealth(b.address);
    closers.push(() => client.close(), health.close);
    await getUser(client);

    const started = Date.now();
    const stopping = b.server.shutdown();
    await sleep(DRAIN_DELAY_MS / 3);
    const duringDrain = await getUser(client);
    await stopping;
    const err = await rejectionOf(getUser(client));

    expect(health.seen.notServingAt - started).toBeLessThan(DRAIN_DELAY_MS / 2);
    expect(duringDrain.user).toEqual(USER);
    await health.ended;
    expect(health.seen.endedAt - started).toBeGreaterThanOrEqual(DRAIN_DELAY_MS - 5);
    expect(err.code).toBe(status.UNAVAILABLE);
  });

  it("under steady load over two instances, shutting one down fails no call, and it went NOT_SERVING while still serving", async () => {
    const a = await startServer();
    const b = await startServer();
    servers.push(a.server, b.server);
    const health = followHealth(b.address);
    // Retries as in mesh.yaml: UNAVAILABLE is retried for GetUser (NO_SIDE_EFFECTS).
    const peer = createPeer(UserServiceService, {
      target: `ipv4:${a.address},${b.address}`,
      policy: projectPolicy(),
    });
    closers.push(() => peer.close(), health.close);
    while (a.arrivals.length === 0 || b.arrivals.length === 0) await peer.getUser({ userId: "u" });

    const LOOPS = 8;
    const RUN_MS = 3_000;
    const end = Date.now() + RUN_MS;
    const outcome = { calls: 0, failures: [] as ServiceError[] };
    const loop = async () => {
      while (Date.now() < end) {
        outcome.calls++;
        await peer
          .getUser({ userId: "usr_1" })
          .catch((err: ServiceError) => void outcome.failures.push(err));
      }
    };
    const load = Promise.all(Array.from({ length: LOOPS }, loop));
    await sleep(RUN_MS / 2);
    const shutdownAt = Date.now();
    await b.server.shutdown();
    const stoppedAt = Date.now();
    await load;

    expect(outcome.failures.map((err) => `${err.code} ${err.details}`)).toEqual([]);
    expect(outcome.calls).toBeGreaterThan(LOOPS * 25);
    // B told its watchers NOT_SERVING first, went on serving through the drain delay, and
    // only then stopped taking calls (GOAWAY, which also ended the Watch stream).
    await health.ended;
    const lastAtB = Math.max(...b.arrivals);
    expect(health.seen.notServingAt).toBeLessThan(shutdownAt + DRAIN_DELAY_MS / 2);
    expect(lastAtB).toBeGreaterThan(health.seen.notServingAt);
    expect(lastAtB).toBeGreaterThanOrEqual(shutdownAt + DRAIN_DELAY_MS / 2);
    expect(health.seen.endedAt).toBeGreaterThanOrEqual(shutdownAt + DRAIN_DELAY_MS - 5);
    expect(a.arrivals.filter((t) => t > stoppedAt).length).toBeGreaterThan(100);
  });
});
