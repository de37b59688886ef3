import { seededRandom } from "../api/random";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { rejectionOf } from "../../test/support";
import { createPeer } from "../client/peer";
import {
  failedPrecondition,
  invalidArgument,
  notFound,
  StatusError,
  unavailable,
} from "../api/errors";
import { silentLogger, type Logger } from "../telemetry/logger";
import { createMeshServer, type MeshServer, type ServiceHandlers } from "./server";
import { parseTopology } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";

type UserHandlers = ServiceHandlers<typeof UserServiceService>;

const CALL_TIMEOUT_MS = 5_000;
const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const INTERNAL_DETAILS = /^internal error \(trace id ([0-9a-z-]+)\)$/;

const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));

/** UserService handlers that answer UNIMPLEMENTED except those given. */
const userHandlers = (overrides: Partial<UserHandlers>): UserHandlers => ({
  createUser: unimplemented,
  getUser: unimplemented,
  listUsers: unimplemented,
  ...overrides,
});

/** A policy without retries, so that each test sees exactly one attempt. */
const noRetries = (): PolicyConfig =>
  parseTopology(
    {
      services: {},
      policy: {
        defaults: {
          timeout: "5s",
          retry: {
            maxAttempts: 1,
            initialBackoff: "10ms",
            maxBackoff: "10ms",
            backoffMultiplier: 1,
            retryableCodes: ["UNAVAILABLE"],
          },
        },
        retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
      },
    },
    "test",
  ).policy;

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

interface Running {
  server: MeshServer;
  address: string;
}

async function start(
  handlers: UserHandlers,
  options: { log?: Logger; graceMs?: number } = {},
): Promise<Running> {
  const server = createMeshServer({
    log: options.log ?? silentLogger(),
    shutdownGraceMs: options.graceMs ?? 1_000,
  });
  server.addService(UserServiceService, handlers);
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  return { server, address: `127.0.0.1:${port}` };
}

/** Calls GetUser with a plain grpc-js client: no mesh behaviour on the calling side. */
function getUser(client: Client, userId: string): Promise<GetUserResponse> {
  const method = UserServiceService.getUser;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { userId },
      new Metadata(),
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

/** Sends bytes as they are, as a client with another idea of the contract would. */
function sendRaw(client: Client, path: string, bytes: Buffer): Promise<Buffer> {
  const raw = (b: Buffer): Buffer => b;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      path,
      raw,
      raw,
      bytes,
      new Metadata(),
      { deadline: Date.now() + CALL_TIMEOUT_MS },
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
}

/** Seeded random bytes, so that the fuzzed requests are the same on every run. */
function seededBytes(seed: number): (length: number) => Buffer {
  const next = seededRandom(seed);
  return (length) => Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("error mapping", () => {
  const running: Running[] = [];
  const channels: { close(): void }[] = [];
  const serve = async (handlers: UserHandlers, log?: Logger): Promise<Client> => {
    const r = await start(handlers, { log });
    running.push(r);
    const client = new Client(r.address, credentials.createInsecure());
    channels.push(client);
    return client;
  };
  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    await Promise.all(running.splice(0).map((r) => r.server.shutdown()));
  });

  it("sends a StatusError's code and message as they are", async () => {
    const client = await serve(
      userHandlers({ getUser: () => Promise.reject(failedPrecondition("user usr_1 is locked")) }),
    );

    const err = await rejectionOf(getUser(client, "usr_1"));

    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toBe("user usr_1 is locked");
  });

  it("sends a field violation as INVALID_ARGUMENT naming the field", async () => {
    const client = await serve(
      userHandlers({ getUser: () => Promise.reject(invalidArgument("user_id", "is required")) }),
    );

    const err = await rejectionOf(getUser(client, ""));

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("user_id: is required");
  });

  it("turns a plain Error into INTERNAL with a logged trace id, and hides its message and stack", async () => {
    const { log, lines } = capturingLogger();
    const client = await serve(
      userHandlers({
        getUser: () => Promise.reject(new Error("password=hunter2 at /srv/users/store.ts:42")),
      }),
      log,
    );

    const err = await rejectionOf(getUser(client, "usr_1"));

    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toMatch(INTERNAL_DETAILS);
    const everythingSent = JSON.stringify({
      details: err.details,
      metadata: (err as ServiceError).metadata.toJSON(),
    });
    expect(everythingSent).not.toMatch(/hunter2|store\.ts|at /);
    const traceId = INTERNAL_DETAILS.exec(err.details)![1];
    const logged = lines.find((line) => line.trace_id === traceId);
    expect(logged).toMatchObject({
      msg: "handler failed",
      method: "/shop.users.v1.UserService/GetUser",
    });
    expect(JSON.stringify(logged)).toContain("hunter2");
  });

  it("turns a rejection with something other than an Error into INTERNAL", async () => {
    // What a careless `throw "..."` or a rejecting library might produce.
    const client = await serve(
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      userHandlers({ getUser: () => Promise.reject("a string, not an Error") }),
    );

    const err = await rejectionOf(getUser(client, "usr_1"));

    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toMatch(INTERNAL_DETAILS);
  });

  it("turns a handler that throws before returning a promise into INTERNAL", async () => {
    const client = await serve(
      userHandlers({
        getUser: () => {
          throw new TypeError("Cannot read properties of undefined (reading 'userId')");
        },
      }),
    );

    const err = await rejectionOf(getUser(client, "usr_1"));

    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toMatch(INTERNAL_DETAILS);
  });

  it("keeps serving after handlers have thrown, rejected and thrown synchronously", async () => {
    let calls = 0;
    const failures: (() => Promise<never>)[] = [
      () => Promise.reject(new Error("boom")),
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      () => Promise.reject(42),
      () => {
        throw new Error("sync boom");
      },
    ];
    const client = await serve(
      userHandlers({
        getUser: () =>
          calls < failures.length ? failures[calls++]() : Promise.resolve({ user: USER }),
      }),
    );

    for (const _ of failures)
      expect((await rejectionOf(getUser(client, "usr_1"))).code).toBe(status.INTERNAL);

    expect((await getUser(client, "usr_1")).user).toEqual(USER);
  });

  it("gives each INTERNAL its own trace id", async () => {
    const client = await serve(userHandlers({ getUser: () => Promise.reject(new Error("boom")) }));

    const first = await rejectionOf(getUser(client, "usr_1"));
    const second = await rejectionOf(getUser(client, "usr_1"));

    expect(first.details).not.toBe(second.details);
  });

  describe("a failure from a downstream call the handler did not handle", () => {
    const throughFront = async (downstream: UserHandlers["getUser"]): Promise<Client> => {
      const back = await start(userHandlers({ getUser: downstream }));
      running.push(back);
      const peer = createPeer(UserServiceService, { target: back.address, policy: noRetries() });
      // The front's handler passes the call on and lets any error escape.
      const client = await serve(
        userHandlers({ getUser: (req, ctx) => peer.getUser(req, { parent: ctx }) }),
      );
      channels.push(peer);
      return client;
    };

    it("keeps UNAVAILABLE, so that the caller may retry", async () => {
      const client = await throughFront(() => Promise.reject(unavailable("users store is down")));

      const err = await rejectionOf(getUser(client, "usr_1"));

      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toBe("users store is down");
    });

    it("becomes INTERNAL when it is NOT_FOUND: the caller's request was not what was missing", async () => {
      const client = await throughFront(() => Promise.reject(notFound("user usr_1 not found")));

      const err = await rejectionOf(getUser(client, "usr_1"));

      expect(err.code).toBe(status.INTERNAL);
      expect(err.details).toMatch(INTERNAL_DETAILS);
    });
  });

  describe("a request whose bytes are not the request message", () => {
    const path = UserServiceService.getUser.path;

    it("is refused with INVALID_ARGUMENT naming the request type, and the handler never runs", async () => {
      let calls = 0;
      const client = await serve(
        userHandlers({ getUser: () => (calls++, Promise.resolve({ user: USER })) }),
      );

      // Field 1 declared 255 bytes long with 2 present; then wire type 7, which does not exist.
      for (const bytes of [
        Buffer.from([0x0a, 0xff, 0x01, 0x61, 0x62]),
        Buffer.from([0x0f, 0x01]),
      ]) {
        const err = await rejectionOf(sendRaw(client, path, bytes));
        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(err.details).toMatch(
          /^request: not a valid shop\.users\.v1\.GetUserRequest message \(.+\)$/,
        );
      }
      expect(calls).toBe(0);
    });

    it("never comes back INTERNAL, whatever the bytes (seeded fuzz)", async () => {
      const client = await serve(
        userHandlers({ getUser: () => Promise.reject(notFound("no such user")) }),
      );
      const random = seededBytes(20_261_126);

      const codes = new Set<number>();
      for (let i = 0; i < 100; i++) {
        codes.add((await rejectionOf(sendRaw(client, path, random(1 + (i % 64))))).code);
      }

      expect(codes).not.toContain(status.INTERNAL);
      expect(codes).toContain(status.INVALID_ARGUMENT);
    });
  });
});

describe("graceful shutdown", () => {
  let running: Running | undefined;
  let client: Client | undefined;
  afterEach(async () => {
    client?.close();
    await running?.server.shutdown();
    running = client = undefined;
  });

  /** A server whose GetUser takes `ms` (or until cancelled), reporting when it starts. */
  const slowServer = async (ms: number, graceMs: number) => {
    let started!: () => void;
    const handlerStarted = new Promise<void>((resolve) => (started = resolve));
    let aborted = false;
    running = await start(
      userHandlers({
        getUser: async (_req, ctx) => {
          started();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            ctx.signal.addEventListener("abort", () => {
              aborted = true;
              clearTimeout(timer);
              resolve();
            });
          });
          return { user: USER };
        },
      }),
      { graceMs },
    );
    client = new Client(running.address, credentials.createInsecure());
    return { server: running.server, client, handlerStarted, wasAborted: () => aborted };
  };

  it("lets an in-flight call finish before shutdown resolves", async () => {
    const { server, client, handlerStarted } = await slowServer(300, 5_000);
    const call = getUser(client, "usr_1").then(() => Date.now());
    await handlerStarted;

    const stopped = await server.shutdown().then(() => Date.now());

    const finished = await call;
    expect(stopped).toBeGreaterThanOrEqual(finished - 5);
  });

  it("refuses calls that arrive after shutdown has started, on a new or an existing connection", async () => {
    const { server, client, handlerStarted } = await slowServer(300, 5_000);
    const inFlight = getUser(client, "usr_1");
    await handlerStarted;

    const stopping = server.shutdown();
    const fresh = new Client(running!.address, credentials.createInsecure());
    try {
      expect((await rejectionOf(getUser(fresh, "usr_2"))).code).toBe(status.UNAVAILABLE);
      expect((await rejectionOf(getUser(client, "usr_3"))).code).toBe(status.UNAVAILABLE);
    } finally {
      fresh.close();
    }
    expect((await inFlight).user).toEqual(USER);
    await stopping;
  });

  it("cuts off a call that outlasts the grace period, and resolves at about the grace", async () => {
    const graceMs = 300;
    const { server, client, handlerStarted, wasAborted } = await slowServer(10_000, graceMs);
    const call = rejectionOf(getUser(client, "usr_1"));
    await handlerStarted;
    const started = Date.now();

    await server.shutdown();

    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(graceMs - 5);
    expect(took).toBeLessThan(graceMs + 300);
    const err = await call;
    // grpc-js's forceShutdown resets the stream with CANCEL, which a client reads as CANCELLED.
    expect(err.code).toBe(status.CANCELLED);
    await delay(10);
    expect(wasAborted()).toBe(true);
  });

  it("returns the same promise when shutdown is called twice", async () => {
    const { server } = await slowServer(0, 1_000);

    expect(server.shutdown()).toBe(server.shutdown());
  });
});
