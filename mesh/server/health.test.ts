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

/** Waits until `condition` holds, polling; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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

  it("keeps no unknown name: cancelled Watch streams of unknown services are forgotten at once", async () => {
    server.ready();
    const watchers = Array.from({ length: 80 }, (_, i) => watch(`${"x".repeat(500)}.${i}`));
    for (const watcher of watchers)
      expect(await watcher.next()).toBe(ServingStatus.SERVICE_UNKNOWN);
    expect(server.health.watcherCount).toBe(80);

    for (const watcher of watchers) watcher.stream.cancel();

    await until(() => server.health.watcherCount === 0);
    // Only registered names are known: the unknown ones left nothing behind.
    expect(server.health.get(`${"x".repeat(500)}.0`)).toBeUndefined();
  });

  it("holds at most 100 Watch streams on one connection; the next is RESOURCE_EXHAUSTED, and a cancel frees a place", async () => {
    server.ready();
    const watchers = Array.from({ length: 100 }, () => watch(USERS));
    for (const watcher of watchers) await watcher.next();

    const refused = watch(USERS);
    expect(await refused.ended).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: "health: at most 100 Watch streams per connection",
    });

    watchers[0].stream.cancel();
    await until(() => server.health.watcherCount === 99);
    const admitted = watch(USERS);
    expect(await admitted.next()).toBe(ServingStatus.SERVING);
    for (const watcher of [...watchers, admitted]) watcher.stream.cancel();
  });

  it("refuses a service name longer than any service's with INVALID_ARGUMENT, in Check and Watch", async () => {
    const long = "x".repeat(513);
    expect(await rejectionOf(check(long))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "service: must be at most 512 characters",
    });
    expect(await watch(long).ended).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(server.health.watcherCount).toBe(0);
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
