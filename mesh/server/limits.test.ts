import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { createPeer } from "../client/peer";
import { StatusError } from "../api/errors";
import { silentLogger } from "../telemetry/logger";
import { createMeshServer, type MeshServer, type ServiceHandlers } from "./server";
import { parseTopology, type LimitsConfig } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";

type UserHandlers = ServiceHandlers<typeof UserServiceService>;

const CALL_TIMEOUT_MS = 5_000;
const FIRST_PAGE = { pageSize: 0, pageToken: "" };
const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));

/** mesh.yaml `limits`, as parsed: durations in milliseconds. */
const limits = (maxConcurrentCalls: number, pushback = 100): LimitsConfig => ({
  maxConcurrentCalls,
  pushback,
  drainDelay: 1,
  shutdownGrace: 10_000,
});

/** A promise and the function that resolves it, to hold handlers until the test lets go. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Waits until `condition` holds, polling; fails after `timeoutMs`. */
async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** GetUser from a plain grpc-js client: no retries, and the error keeps its trailers. */
function getUser(client: Client): Promise<GetUserResponse> {
  const method = UserServiceService.getUser;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { userId: "usr_1" },
      new Metadata(),
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

describe("concurrency limit", () => {
  let server: MeshServer | undefined;
  const channels: { close(): void }[] = [];
  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    await server?.shutdown();
    server = undefined;
  });

  const start = async (config: LimitsConfig, handlers: Partial<UserHandlers>) => {
    server = createMeshServer({ log: silentLogger(), shutdownGraceMs: 1_000, limits: config });
    server.addService(UserServiceService, {
      createUser: unimplemented,
      getUser: unimplemented,
      listUsers: unimplemented,
      ...handlers,
    });
    const address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    server.ready();
    const client = new Client(address, credentials.createInsecure());
    channels.push(client);
    return { server, client, address };
  };

  /** Five GetUser calls at once against a limit of 2, with handlers held until `release`. */
  const fiveCallsAgainstTwo = async (pushbackMs = 250) => {
    const held = gate();
    let started = 0;
    const running = await start(limits(2, pushbackMs), {
      getUser: async () => {
        started++;
        await held.opened;
        return { user: USER };
      },
    });
    const shed: ServiceError[] = [];
    const calls = Array.from({ length: 5 }, () =>
      getUser(running.client).then(
        () => "ok" as const,
        (err: ServiceError) => (shed.push(err), "shed" as const),
      ),
    );
    await until(() => started === 2 && shed.length === 3);
    return { ...running, shed, calls, release: held.open, started: () => started };
  };

  it("sheds the calls beyond maxConcurrentCalls with RESOURCE_EXHAUSTED naming the limit and a pushback trailer", async () => {
    const { server, shed, calls, release } = await fiveCallsAgainstTwo(250);

    expect(server.inFlight).toBe(2);
    for (const err of shed) {
      expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err.details).toBe(
        "server overloaded: 2 calls in flight (limits.maxConcurrentCalls); retry after 250 ms",
      );
      expect(err.metadata.get("grpc-retry-pushback-ms")).toEqual(["250"]);
    }
    release();
    expect((await Promise.all(calls)).sort()).toEqual(["ok", "ok", "shed", "shed", "shed"]);
  });

  it("serves calls again once the calls in flight have finished", async () => {
    const { server, client, calls, release, started } = await fiveCallsAgainstTwo();
    release();
    await Promise.all(calls);

    const again = await Promise.all([getUser(client), getUser(client)]);

    expect(again.map((res) => res.user)).toEqual([USER, USER]);
    expect(started()).toBe(4);
    expect(server.inFlight).toBe(0);
  });

  it("brings the in-flight count back to 0 whether handlers resolve, reject or throw", async () => {
    let calls = 0;
    const outcomes: (() => Promise<GetUserResponse>)[] = [
      () => Promise.resolve({ user: USER }),
      () => Promise.reject(new StatusError(status.NOT_FOUND, "no such user")),
      () => Promise.reject(new Error("boom")),
      () => {
        throw new Error("sync boom");
      },
    ];
    const { server, client } = await start(limits(2), {
      getUser: () => outcomes[calls++ % outcomes.length](),
    });

    const codes = await Promise.all(
      Array.from({ length: 2 * outcomes.length }, (_, i) =>
        // Two at a time, so that the limit of 2 is reached but never passed.
        new Promise((resolve) => setTimeout(resolve, Math.floor(i / 2) * 20)).then(() =>
          getUser(client).then(
            () => status.OK,
            (err: ServiceError) => err.code,
          ),
        ),
      ),
    );

    expect(server.inFlight).toBe(0);
    expect(codes).not.toContain(status.RESOURCE_EXHAUSTED);
    expect(new Set(codes)).toEqual(new Set([status.OK, status.NOT_FOUND, status.INTERNAL]));
  });

  it("answers health checks even when every handler slot is taken", async () => {
    const { address, release } = await fiveCallsAgainstTwo();
    const health = new HealthClient(address, credentials.createInsecure());
    channels.push(health);

    const checked = await new Promise<ServingStatus>((resolve, reject) =>
      health.check({ service: "" }, (err, res) => (err ? reject(err) : resolve(res.status))),
    );

    expect(checked).toBe(ServingStatus.SERVING);
    release();
  });
});

describe("pushback", () => {
  let server: MeshServer | undefined;
  const channels: { close(): void }[] = [];
  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    await server?.shutdown();
  });

  /** Two attempts, 10 ms apart by backoff, RESOURCE_EXHAUSTED retryable. */
  const retryOnShed = (): PolicyConfig =>
    parseTopology(
      {
        services: {},
        policy: {
          defaults: {
            timeout: "5s",
            retry: {
              maxAttempts: 2,
              initialBackoff: "10ms",
              maxBackoff: "10ms",
              backoffMultiplier: 1,
              retryableCodes: ["UNAVAILABLE", "RESOURCE_EXHAUSTED"],
            },
          },
          retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
        },
      },
      "test",
    ).policy;

  it("a shed call is retried after the pushback, not the backoff, and succeeds", async () => {
    const pushbackMs = 300;
    const holdMs = 150;
    const arrivals: number[] = [];
    server = createMeshServer({ log: silentLogger(), limits: limits(1, pushbackMs) });
    server.addService(UserServiceService, {
      createUser: unimplemented,
      listUsers: unimplemented,
      getUser: async () => {
        arrivals.push(Date.now());
        // The first call keeps the only slot for longer than the 10 ms backoff, so the retry
        // can succeed only if it waited for the pushback.
        if (arrivals.length === 1) await new Promise((resolve) => setTimeout(resolve, holdMs));
        return { user: USER };
      },
    });
    const address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    server.ready();
    const raw = new Client(address, credentials.createInsecure());
    const peer = createPeer(UserServiceService, { target: address, policy: retryOnShed() });
    channels.push(raw, peer);
    await peer.listUsers(FIRST_PAGE).catch(() => undefined); // connect first, so that timing is the call's

    const holder = getUser(raw);
    await until(() => arrivals.length === 1);
    const started = Date.now();
    const res = await peer.getUser({ userId: "usr_1" });

    expect(res.user).toEqual(USER);
    expect(arrivals).toHaveLength(2);
    const waited = arrivals[1] - started;
    expect(waited).toBeGreaterThanOrEqual(pushbackMs);
    expect(waited).toBeLessThan(pushbackMs + 200);
    await holder;
  });
});
