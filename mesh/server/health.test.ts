import {
  credentials,
  Metadata,
  status,
  type ClientReadableStream,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
} from "../../gen/grpc/health/v1/health";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { rejectionOf } from "../../test/support";
import { StatusError } from "../api/errors";
import { silentLogger } from "../telemetry/logger";
import { createMeshServer, type MeshServer, type ServiceHandlers } from "./server";

const USERS = "shop.users.v1.UserService";
const CALL_TIMEOUT_MS = 5_000;

const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));
const users: ServiceHandlers<typeof UserServiceService> = {
  createUser: unimplemented,
  getUser: unimplemented,
  listUsers: unimplemented,
};

describe("health", () => {
  let server: MeshServer;
  let health: HealthClient;

  // Not marked ready: each test decides when the server becomes ready.
  beforeEach(async () => {
    server = createMeshServer({ log: silentLogger(), shutdownGraceMs: 1_000 });
    server.addService(UserServiceService, users);
    const port = await server.listen("127.0.0.1:0");
    health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterEach(async () => {
    health.close();
    await server.shutdown();
  });

  const check = (service: string): Promise<HealthCheckResponse> =>
    new Promise((resolve, reject) =>
      health.check(
        { service },
        new Metadata(),
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );

  /** Collects a Watch stream's messages; `next()` resolves with the next one to arrive. */
  const watch = (service: string) => {
    const stream: ClientReadableStream<HealthCheckResponse> = health.watch({ service });
    const received: ServingStatus[] = [];
    const waiters: (() => void)[] = [];
    stream.on("data", (res: HealthCheckResponse) => {
      received.push(res.status);
      waiters.shift()?.();
    });
    const ended = new Promise<ServiceError | null>((resolve) => {
      stream.on("error", (err: ServiceError) => resolve(err));
      stream.on("status", (s: { code: status }) => s.code === status.OK && resolve(null));
    });
    let read = 0;
    const next = async (): Promise<ServingStatus> => {
      if (received.length <= read) await new Promise<void>((resolve) => waiters.push(resolve));
      return received[read++];
    };
    return { stream, next, ended };
  };

  it("reports NOT_SERVING for the server and its services until ready(), then SERVING", async () => {
    expect((await check("")).status).toBe(ServingStatus.NOT_SERVING);
    expect((await check(USERS)).status).toBe(ServingStatus.NOT_SERVING);

    server.ready();

    expect((await check("")).status).toBe(ServingStatus.SERVING);
    expect((await check(USERS)).status).toBe(ServingStatus.SERVING);
  });

  it("answers Check of an unknown service with NOT_FOUND naming it", async () => {
    server.ready();

    const err = await rejectionOf(check("shop.nothing.v1.NoService"));

    expect(err.code).toBe(status.NOT_FOUND);
    expect(err.details).toBe('service "shop.nothing.v1.NoService" is unknown');
  });

  it("sends Watch the current status, then NOT_SERVING when shutdown starts, then ends the stream", async () => {
    server.ready();
    const watcher = watch("");
    expect(await watcher.next()).toBe(ServingStatus.SERVING);

    const stopping = server.shutdown();

    expect(await watcher.next()).toBe(ServingStatus.NOT_SERVING);
    expect(await watcher.ended).toBeNull();
    await stopping;
  });

  it("sends Watch every change of a service's status", async () => {
    const watcher = watch(USERS);
    expect(await watcher.next()).toBe(ServingStatus.NOT_SERVING);

    server.ready();
    expect(await watcher.next()).toBe(ServingStatus.SERVING);
    server.health.set(USERS, ServingStatus.NOT_SERVING);
    expect(await watcher.next()).toBe(ServingStatus.NOT_SERVING);
    watcher.stream.cancel();
  });

  it("sends Watch of an unknown service SERVICE_UNKNOWN without ending the stream", async () => {
    const watcher = watch("shop.later.v1.LaterService");

    expect(await watcher.next()).toBe(ServingStatus.SERVICE_UNKNOWN);
    server.health.set("shop.later.v1.LaterService", ServingStatus.SERVING);
    expect(await watcher.next()).toBe(ServingStatus.SERVING);
    watcher.stream.cancel();
  });

  it("lists the status of the server and of every registered service", async () => {
    server.ready();

    const listed = await new Promise<Record<string, HealthCheckResponse>>((resolve, reject) =>
      health.list({}, (err, res) => (err ? reject(err) : resolve(res.statuses))),
    );

    expect(listed).toEqual({
      "": { status: ServingStatus.SERVING },
      [USERS]: { status: ServingStatus.SERVING },
    });
  });

  it("finishes shutdown without waiting for open Watch streams", async () => {
    server.ready();
    const watcher = watch(USERS);
    await watcher.next();
    const started = Date.now();

    await server.shutdown();

    // The grace period is 1 s; Watch streams are closed rather than waited for.
    expect(Date.now() - started).toBeLessThan(500);
  });
});
