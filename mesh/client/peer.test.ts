import {
  Client,
  credentials,
  Metadata,
  status,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import pino from "pino";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { rejectionOf, startTestServer, type TestServer } from "../../test/support";
import { createPeer, type Peer } from "./peer";
import type { CallContext } from "../api/call-context";
import type { Logger } from "../telemetry/logger";
import { StatusError, unavailable } from "../api/errors";
import type { ServiceHandlers } from "../server/server";
import { parseTopology } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";

type UserHandlers = ServiceHandlers<typeof UserServiceService>;
type Failure = Error & { code: number; details: string };

const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
// How far apart two clocks readings of "the same" deadline may be: the deadline crosses the
// wire as a relative grpc-timeout and is turned back into a time on the other side.
const CLOCK_SLACK_MS = 100;

const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));
const userHandlers = (overrides: Partial<UserHandlers>): UserHandlers => ({
  createUser: unimplemented,
  getUser: unimplemented,
  listUsers: unimplemented,
  ...overrides,
});

interface PolicyOverrides {
  timeout?: string;
  maxAttempts?: number;
  methods?: Record<string, unknown>;
  circuitBreaker?: { failureThreshold: number; openFor: string };
}

/** The `policy` section of a topology document. */
function policyDocument(overrides: PolicyOverrides = {}): Record<string, unknown> {
  return {
    defaults: {
      timeout: overrides.timeout ?? "2s",
      retry: {
        maxAttempts: overrides.maxAttempts ?? 3,
        initialBackoff: "10ms",
        maxBackoff: "50ms",
        backoffMultiplier: 2,
        retryableCodes: ["UNAVAILABLE"],
      },
    },
    retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
    methods: overrides.methods ?? {},
    circuitBreaker: overrides.circuitBreaker,
  };
}

/** A policy built the way mesh.yaml is, from a literal document. */
function policyOf(overrides: PolicyOverrides = {}): PolicyConfig {
  const document = { services: {}, policy: policyDocument(overrides) };
  return parseTopology(document, "test-topology").policy;
}

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve()),
  );

/** A logger at `level` whose lines land in `lines`, parsed. */
function capturingLogger(level: string): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Something to resolve from inside a handler and await from the test. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("peer", () => {
  const servers: TestServer[] = [];
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const serveUsers = async (handlers: UserHandlers): Promise<string> => {
    const server = await startTestServer((s) => s.addService(UserServiceService, handlers));
    servers.push(server);
    return server.address;
  };
  const usersPeer = (target: string, policy = policyOf()): Peer<typeof UserServiceService> => {
    const peer = createPeer(UserServiceService, { target, policy });
    closers.push(() => peer.close());
    return peer;
  };
  /** A plain grpc-js client, for calls whose deadline and cancellation the test controls. */
  const plainClient = (target: string): Client => {
    const client = new Client(target, credentials.createInsecure());
    closers.push(() => client.close());
    return client;
  };
  const callGetUser = (
    client: Client,
    deadline: number,
    done: (err: ServiceError | null, res?: GetUserResponse) => void = () => undefined,
  ): ClientUnaryCall => {
    const m = UserServiceService.getUser;
    return client.makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      { userId: "usr_1" },
      new Metadata(),
      { deadline },
      done,
    );
  };

  /**
   * front → back: the front's GetUser calls the back's GetUser with `parent`, running
   * `front` to decide how; the back runs `back`.
   */
  const frontAndBack = async (
    back: UserHandlers["getUser"],
    front: (peer: Peer<typeof UserServiceService>, ctx: CallContext) => Promise<GetUserResponse>,
    policy = policyOf(),
  ): Promise<Client> => {
    const backPeer = usersPeer(await serveUsers(userHandlers({ getUser: back })), policy);
    const frontAddress = await serveUsers(
      userHandlers({ getUser: (_req, ctx) => front(backPeer, ctx) }),
    );
    return plainClient(frontAddress);
  };

  describe("deadlines", () => {
    it("gives a call the policy's timeout as its deadline", async () => {
      let seen = 0;
      const peer = usersPeer(
        await serveUsers(
          userHandlers({
            getUser: (_r, ctx) => ((seen = ctx.deadline), Promise.resolve({ user: USER })),
          }),
        ),
      );

      const sent = Date.now();
      await peer.getUser({ userId: "usr_1" });

      expect(Math.abs(seen - (sent + 2_000))).toBeLessThan(CLOCK_SLACK_MS);
    });

    it("gives a call its method's timeout when the policy names the method", async () => {
      let seen = 0;
      const address = await serveUsers(
        userHandlers({
          getUser: (_r, ctx) => ((seen = ctx.deadline), Promise.resolve({ user: USER })),
        }),
      );
      const peer = usersPeer(
        address,
        policyOf({ methods: { "shop.users.v1.UserService/GetUser": { timeout: "700ms" } } }),
      );

      const sent = Date.now();
      await peer.getUser({ userId: "usr_1" });

      expect(Math.abs(seen - (sent + 700))).toBeLessThan(CLOCK_SLACK_MS);
    });

    it("uses the incoming call's deadline when it is sooner than the policy's", async () => {
      let frontDeadline = 0;
      let backDeadline = 0;
      const client = await frontAndBack(
        (_r, ctx) => ((backDeadline = ctx.deadline), Promise.resolve({ user: USER })),
        (peer, ctx) => (
          (frontDeadline = ctx.deadline),
          peer.getUser({ userId: "usr_1" }, { parent: ctx })
        ),
      );

      const sent = Date.now();
      await new Promise((resolve, reject) =>
        callGetUser(client, sent + 500, (err) => (err ? reject(err) : resolve(null))),
      );

      expect(Math.abs(frontDeadline - (sent + 500))).toBeLessThan(CLOCK_SLACK_MS);
      expect(Math.abs(backDeadline - frontDeadline)).toBeLessThan(CLOCK_SLACK_MS);
    });

    it("fails at once with DEADLINE_EXCEEDED, sending nothing, when the incoming call's deadline has passed", async () => {
      let backCalls = 0;
      const outcome = deferred<{ err: Failure; tookMs: number }>();
      const client = await frontAndBack(
        () => (backCalls++, Promise.resolve({ user: USER })),
        async (peer, ctx) => {
          await delay(ctx.deadline - Date.now() + 20);
          const started = Date.now();
          const err = await rejectionOf(peer.getUser({ userId: "usr_1" }, { parent: ctx })).catch(
            (e: Error) => e,
          );
          outcome.resolve({ err: err as Failure, tookMs: Date.now() - started });
          throw err;
        },
      );

      callGetUser(client, Date.now() + 100);
      const { err, tookMs } = await outcome.promise;

      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(err.details).toBe("no time left to call /shop.users.v1.UserService/GetUser");
      expect(tookMs).toBeLessThan(50);
      expect(backCalls).toBe(0);
    });

    it("cancels the downstream call when the incoming call is cancelled", async () => {
      const backStarted = deferred<void>();
      const backAborted = deferred<void>();
      const frontOutcome = deferred<number>();
      const client = await frontAndBack(
        async (_r, ctx) => {
          backStarted.resolve();
          await aborted(ctx.signal);
          backAborted.resolve();
          throw new StatusError(status.CANCELLED, "gave up");
        },
        async (peer, ctx) => {
          const err = await rejectionOf(peer.getUser({ userId: "usr_1" }, { parent: ctx }));
          frontOutcome.resolve(err.code);
          throw err;
        },
      );

      const call = callGetUser(client, Date.now() + 5_000);
      await backStarted.promise;
      call.cancel();

      await backAborted.promise;
      expect(await frontOutcome.promise).toBe(status.CANCELLED);
    });

    it("fails at once with CANCELLED, sending nothing, when the incoming call was already cancelled", async () => {
      let backCalls = 0;
      const frontStarted = deferred<void>();
      const outcome = deferred<{ err: Failure; tookMs: number }>();
      const client = await frontAndBack(
        () => (backCalls++, Promise.resolve({ user: USER })),
        async (peer, ctx) => {
          frontStarted.resolve();
          await aborted(ctx.signal);
          const started = Date.now();
          const err = await rejectionOf(peer.getUser({ userId: "usr_1" }, { parent: ctx })).catch(
            (e: Error) => e,
          );
          outcome.resolve({ err: err as Failure, tookMs: Date.now() - started });
          throw err;
        },
      );

      const call = callGetUser(client, Date.now() + 5_000);
      await frontStarted.promise;
      call.cancel();
      const { err, tookMs } = await outcome.promise;

      expect(err.code).toBe(status.CANCELLED);
      expect(err.details).toBe(
        "the incoming call was cancelled; not calling /shop.users.v1.UserService/GetUser",
      );
      expect(tookMs).toBeLessThan(50);
      expect(backCalls).toBe(0);
    });

    it("ends a call to a slow handler with DEADLINE_EXCEEDED soon after the timeout, and the handler's signal aborts", async () => {
      const backAborted = deferred<void>();
      const peer = usersPeer(
        await serveUsers(
          userHandlers({
            getUser: async (_r, ctx) => {
              await aborted(ctx.signal);
              backAborted.resolve();
              return { user: USER };
            },
          }),
        ),
        policyOf({ timeout: "200ms" }),
      );

      const started = Date.now();
      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));
      const took = Date.now() - started;

      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(took).toBeGreaterThanOrEqual(195);
      expect(took).toBeLessThan(200 + 150);
      await backAborted.promise;
    });

    it("lets timeoutMs of one call override the policy's timeout", async () => {
      let seen = 0;
      const peer = usersPeer(
        await serveUsers(
          userHandlers({
            getUser: (_r, ctx) => ((seen = ctx.deadline), Promise.resolve({ user: USER })),
          }),
        ),
      );

      const sent = Date.now();
      await peer.getUser({ userId: "usr_1" }, { timeoutMs: 300 });

      expect(Math.abs(seen - (sent + 300))).toBeLessThan(CLOCK_SLACK_MS);
    });
  });

  describe("answers", () => {
    /** The users contract with GetUser's request or response codec replaced. */
    const withGetUser = (
      codec: Partial<
        Pick<typeof UserServiceService.getUser, "requestSerialize" | "responseDeserialize">
      >,
    ): typeof UserServiceService => ({
      ...UserServiceService,
      getUser: { ...UserServiceService.getUser, ...codec },
    });

    it("resolves to the decoded response", async () => {
      const peer = usersPeer(
        await serveUsers(userHandlers({ getUser: () => Promise.resolve({ user: USER }) })),
      );

      await expect(peer.getUser({ userId: "usr_1" })).resolves.toEqual({ user: USER });
    });

    it("rejects with a ServiceError shaped as grpc-js shapes one: message, code, details, metadata", async () => {
      const peer = usersPeer(
        await serveUsers(
          userHandlers({
            getUser: () => Promise.reject(new StatusError(status.NOT_FOUND, "no user usr_9")),
          }),
        ),
      );

      const err = (await rejectionOf(peer.getUser({ userId: "usr_9" }))) as ServiceError;

      expect(err).toBeInstanceOf(Error);
      expect(err.message).toBe("5 NOT_FOUND: no user usr_9");
      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.details).toBe("no user usr_9");
      expect(err.metadata).toBeInstanceOf(Metadata);
    });

    it("fails with INTERNAL naming only the peer when the response does not decode, and logs why", async () => {
      const { log, lines } = capturingLogger("info");
      const target = await serveUsers(
        userHandlers({ getUser: () => Promise.resolve({ user: USER }) }),
      );
      const definition = withGetUser({
        responseDeserialize: () => {
          throw new Error("truncated");
        },
      });
      const peer = createPeer(definition, { target, policy: policyOf(), log });
      closers.push(() => peer.close());

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.INTERNAL);
      expect(err.details).toBe("users failed");
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: "call failed",
          peer: "users",
          code: "INTERNAL",
          details: "Response message parsing error: truncated",
        }),
      );
    });

    it("fails with INTERNAL, calling no handler, when the request does not serialize", async () => {
      let handled = 0;
      const target = await serveUsers(
        userHandlers({ getUser: () => (handled++, Promise.resolve({ user: USER })) }),
      );
      const definition = withGetUser({
        requestSerialize: () => {
          throw new Error("no encoder");
        },
      });
      const peer = createPeer(definition, { target, policy: policyOf() });
      closers.push(() => peer.close());

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.INTERNAL);
      expect(err.details).toBe("users failed");
      expect(handled).toBe(0);
    });

    it("answers UNAVAILABLE naming the peer, never its address, when nothing listens; the address goes to the log", async () => {
      const { log, lines } = capturingLogger("info");
      const peer = createPeer(UserServiceService, {
        target: "127.0.0.1:1",
        policy: policyOf({ maxAttempts: 1 }),
        log,
      });
      closers.push(() => peer.close());

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toBe("users is unavailable");
      expect(err.message).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      expect(lines).toContainEqual(
        expect.objectContaining({
          msg: "call failed",
          code: "UNAVAILABLE",
          details: expect.stringMatching(/ECONNREFUSED 127\.0\.0\.1:1/) as string,
        }),
      );
    });

    it("rejects, instead of throwing, once the peer is closed", async () => {
      const peer = createPeer(UserServiceService, {
        target: await serveUsers(userHandlers({})),
        policy: policyOf(),
      });
      peer.close();

      await expect(peer.getUser({ userId: "usr_1" })).rejects.toThrow("Channel has been shut down");
    });
  });

  describe("retries", () => {
    /** GetUser and CreateUser that fail with `code` for the first `failures` calls each. */
    const flaky = (failures: number, code = status.UNAVAILABLE) => {
      const calls = { getUser: 0, createUser: 0 };
      const fail = () =>
        code === status.UNAVAILABLE ? unavailable("try again") : new StatusError(code, "broken");
      const handlers = userHandlers({
        getUser: () =>
          ++calls.getUser <= failures ? Promise.reject(fail()) : Promise.resolve({ user: USER }),
        createUser: () =>
          ++calls.createUser <= failures ? Promise.reject(fail()) : Promise.resolve({ user: USER }),
      });
      return { calls, handlers };
    };

    it("retries a NO_SIDE_EFFECTS method (GetUser) on UNAVAILABLE until it succeeds", async () => {
      const { calls, handlers } = flaky(2);
      const peer = usersPeer(await serveUsers(handlers));

      const { user } = await peer.getUser({ userId: "usr_1" });

      expect(user).toEqual(USER);
      expect(calls.getUser).toBe(3);
    });

    it("retries an IDEMPOTENT method (ReserveStock)", async () => {
      let calls = 0;
      const server = await startTestServer((s) =>
        s.addService(InventoryServiceService, {
          createProduct: unimplemented,
          getProduct: unimplemented,
          listProducts: unimplemented,
          releaseStock: unimplemented,
          getReservation: unimplemented,
          reserveStock: () =>
            ++calls === 1
              ? Promise.reject(unavailable("try again"))
              : Promise.resolve({ reservation: undefined }),
        }),
      );
      servers.push(server);
      const peer = createPeer(InventoryServiceService, {
        target: server.address,
        policy: policyOf(),
      });
      closers.push(() => peer.close());

      await peer.reserveStock({ orderId: "ord_1", items: [] });

      expect(calls).toBe(2);
    });

    it("does not retry an IDEMPOTENCY_UNKNOWN method (CreateUser): one attempt, UNAVAILABLE to the caller", async () => {
      const { calls, handlers } = flaky(1);
      const peer = usersPeer(await serveUsers(handlers));

      const err = await rejectionOf(
        peer.createUser({ email: "ada@example.com", displayName: "Ada" }),
      );

      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toBe("try again");
      expect(calls.createUser).toBe(1);
    });

    it("does not retry a code the policy does not list (INTERNAL)", async () => {
      const { calls, handlers } = flaky(1, status.INTERNAL);
      const peer = usersPeer(await serveUsers(handlers));

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.INTERNAL);
      expect(calls.getUser).toBe(1);
    });

    it("gives up after maxAttempts and reports the last failure", async () => {
      const { calls, handlers } = flaky(Infinity);
      const peer = usersPeer(await serveUsers(handlers));

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.UNAVAILABLE);
      expect(calls.getUser).toBe(3);
    });

    it("retries nothing when the policy's maxAttempts is 1", async () => {
      const { calls, handlers } = flaky(1);
      const peer = usersPeer(await serveUsers(handlers), policyOf({ maxAttempts: 1 }));

      const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(err.code).toBe(status.UNAVAILABLE);
      expect(calls.getUser).toBe(1);
    });

    it("stops retrying once failures use up the throttling tokens", async () => {
      const { calls, handlers } = flaky(Infinity);
      const peer = usersPeer(await serveUsers(handlers));

      const attempts: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = calls.getUser;
        await rejectionOf(peer.getUser({ userId: "usr_1" }));
        attempts.push(calls.getUser - before);
      }

      // 10 tokens, one lost per failed attempt; no retry once 5 or fewer are left (gRFC A6
      // retry throttling): 10→7 over the first call, 7→5 over the second, then single tries.
      expect(attempts).toEqual([3, 2, 1, 1, 1]);
    });
  });

  describe("balancing", () => {
    it("spreads calls round-robin over every address of the target", async () => {
      const counts = [0, 0];
      const addresses = await Promise.all(
        counts.map((_, i) =>
          serveUsers(
            userHandlers({ getUser: () => (counts[i]++, Promise.resolve({ user: USER })) }),
          ),
        ),
      );
      const peer = usersPeer(`ipv4:${addresses.join(",")}`);

      // Wait until both subchannels are connected; until then calls go to the ready one.
      await peer.getUser({ userId: "usr_1" });
      await delay(50);
      counts.fill(0);
      for (let i = 0; i < 10; i++) await peer.getUser({ userId: "usr_1" });

      expect(counts).toEqual([5, 5]);
    });
  });
  describe("budget in logs", () => {
    it("logs each call's method and remaining budget at debug level", async () => {
      const { log, lines } = capturingLogger("debug");
      const address = await serveUsers(
        userHandlers({ getUser: () => Promise.resolve({ user: USER }) }),
      );
      const peer = createPeer(UserServiceService, { target: address, policy: policyOf(), log });
      closers.push(() => peer.close());

      await peer.getUser({ userId: "usr_1" }, { timeoutMs: 700 });
      await peer.getUser({ userId: "usr_1" });

      expect(lines.map(({ method, budgetMs, msg }) => ({ method, budgetMs, msg }))).toEqual([
        { method: "/shop.users.v1.UserService/GetUser", budgetMs: 700, msg: "calling" },
        { method: "/shop.users.v1.UserService/GetUser", budgetMs: 2_000, msg: "calling" },
      ]);
    });

    it("builds no log entry at all when the level is above debug", async () => {
      const { log, lines } = capturingLogger("info");
      const debug = jest.spyOn(log, "debug");
      const address = await serveUsers(
        userHandlers({ getUser: () => Promise.resolve({ user: USER }) }),
      );
      const peer = createPeer(UserServiceService, { target: address, policy: policyOf(), log });
      closers.push(() => peer.close());

      for (let i = 0; i < 3; i++) await peer.getUser({ userId: "usr_1" });

      expect(debug).not.toHaveBeenCalled();
      expect(lines).toEqual([]);
    });
  });

  describe("circuit breaker", () => {
    it("has no breaker unless the policy asks for one", () => {
      expect(usersPeer("127.0.0.1:1").breaker).toBeUndefined();
      expect(
        usersPeer(
          "127.0.0.1:1",
          policyOf({ circuitBreaker: { failureThreshold: 2, openFor: "1s" } }),
        ).breaker?.state(),
      ).toBe("closed");
    });

    it("keeps the circuit closed while the peer answers, even with errors of its own (NOT_FOUND)", async () => {
      let calls = 0;
      const address = await serveUsers(
        userHandlers({
          getUser: () => (calls++, Promise.reject(new StatusError(status.NOT_FOUND, "no user"))),
        }),
      );
      const peer = usersPeer(
        address,
        policyOf({ circuitBreaker: { failureThreshold: 2, openFor: "1s" } }),
      );

      for (let i = 0; i < 5; i++) {
        expect((await rejectionOf(peer.getUser({ userId: "usr_1" }))).code).toBe(status.NOT_FOUND);
      }

      expect(calls).toBe(5);
      expect(peer.breaker?.state()).toBe("closed");
    });

    it("does not open the circuit on calls that ran out of time: ejection counts those, per instance", async () => {
      const address = await serveUsers(
        userHandlers({
          getUser: async (_r, ctx) => (await aborted(ctx.signal), { user: USER }),
        }),
      );
      const peer = usersPeer(
        address,
        policyOf({ circuitBreaker: { failureThreshold: 2, openFor: "1s" } }),
      );

      // 200 ms: long enough to connect on a loaded machine (CI once saw UNAVAILABLE with 20).
      for (let i = 0; i < 3; i++) {
        const err = await rejectionOf(peer.getUser({ userId: "usr_1" }, { timeoutMs: 200 }));
        expect({ code: err.code, details: err.details }).toMatchObject({
          code: status.DEADLINE_EXCEEDED,
        });
      }

      expect(peer.breaker?.state()).toBe("closed");
    });

    it("warns in the log when the circuit opens", async () => {
      const { log, lines } = capturingLogger("info");
      const peer = createPeer(UserServiceService, {
        target: "127.0.0.1:1",
        policy: policyOf({
          maxAttempts: 1,
          circuitBreaker: { failureThreshold: 1, openFor: "1s" },
        }),
        log,
      });
      closers.push(() => peer.close());

      await rejectionOf(peer.getUser({ userId: "usr_1" }));

      expect(lines.filter((line) => String(line.msg).startsWith("circuit"))).toEqual([
        expect.objectContaining({
          level: 40,
          peer: "shop.users.v1.UserService",
          state: "open",
          previous: "closed",
          msg: "circuit to shop.users.v1.UserService opened",
        }),
      ]);
    });
  });

  describe("outlier detection", () => {
    it("refuses to build a peer whose outlier-detection config its balancer would not apply", () => {
      const valid = parseTopology(
        {
          services: {},
          policy: {
            ...policyDocument(),
            outlierDetection: {
              interval: "1s",
              baseEjectionTime: "5s",
              maxEjectionTime: "30s",
              maxEjectionPercent: 50,
              failurePercentage: {
                threshold: 50,
                enforcementPercentage: 100,
                minimumHosts: 2,
                requestVolume: 10,
              },
            },
          },
        },
        "test-topology",
      ).policy;
      // Built in code: the topology schema would have refused a percentage over 100 first.
      const policy = {
        ...valid,
        outlierDetection: { ...valid.outlierDetection!, maxEjectionPercent: 101 },
      };

      expect(() => createPeer(UserServiceService, { target: "127.0.0.1:1", policy })).toThrow(
        "policy.outlierDetection: mesh_round_robin: max_ejection_percent must be a percentage (0-100), got 101",
      );
    });
  });
});
