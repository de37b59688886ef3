import { createServer } from "node:net";
import { performance } from "node:perf_hooks";
import { status } from "@grpc/grpc-js";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { rejectionOf, startTestServer, type TestServer } from "../../test/support";
import type { BreakerState } from "./breaker";
import { createPeer, type Peer } from "./peer";
import { StatusError, unavailable } from "../api/errors";
import type { ServiceHandlers } from "../server/server";
import { parseTopology } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";

type UserHandlers = ServiceHandlers<typeof UserServiceService>;
type InventoryHandlers = ServiceHandlers<typeof InventoryServiceService>;
type Users = Peer<typeof UserServiceService>;

const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const GET_USER = { userId: "usr_1" };
// mesh.yaml's retry throttling: 10 tokens, half a token back per success.
const MESH_THROTTLING = { maxTokens: 10, tokenRatio: 0.5 };

/** Measured numbers, printed when MESH_REPORT is set (the report quotes them). */
const report = (what: string, value: unknown): void => {
  if (process.env.MESH_REPORT)
    process.stdout.write(`[measured] ${what}: ${JSON.stringify(value)}\n`);
};

const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));
const userHandlers = (overrides: Partial<UserHandlers>): UserHandlers => ({
  createUser: unimplemented,
  getUser: unimplemented,
  listUsers: unimplemented,
  ...overrides,
});
const inventoryHandlers = (overrides: Partial<InventoryHandlers>): InventoryHandlers => ({
  createProduct: unimplemented,
  getProduct: unimplemented,
  listProducts: unimplemented,
  reserveStock: unimplemented,
  releaseStock: unimplemented,
  getReservation: unimplemented,
  ...overrides,
});

/** A policy built the way mesh.yaml is, from a literal document. */
function policyOf(policy: Record<string, unknown> = {}): PolicyConfig {
  const document = {
    services: {},
    policy: {
      defaults: {
        timeout: "2s",
        retry: {
          maxAttempts: 3,
          initialBackoff: "10ms",
          maxBackoff: "50ms",
          backoffMultiplier: 2,
          retryableCodes: ["UNAVAILABLE"],
        },
      },
      retryThrottling: MESH_THROTTLING,
      ...policy,
    },
  };
  return parseTopology(document, "test-topology").policy;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits `ms`, or less if `signal` aborts first; the timer and listener never outlive it. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** A port nothing listens on (yet). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Something to resolve from inside a handler and await from the test. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("resilience", () => {
  const servers: TestServer[] = [];
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  const serve = async (
    register: Parameters<typeof startTestServer>[0],
    address?: string,
  ): Promise<string> => {
    const server = await startTestServer(register, address);
    servers.push(server);
    return server.address;
  };
  const serveUsers = (handlers: UserHandlers, address?: string): Promise<string> =>
    serve((s) => s.addService(UserServiceService, handlers), address);
  const serveInventory = (handlers: InventoryHandlers): Promise<string> =>
    serve((s) => s.addService(InventoryServiceService, handlers));
  const peerOf = <S extends typeof UserServiceService | typeof InventoryServiceService>(
    definition: S,
    target: string,
    policy: PolicyConfig,
  ): Peer<S> => {
    const peer = createPeer(definition, { target, policy });
    closers.push(() => peer.close());
    return peer;
  };

  describe("outlier ejection", () => {
    const INTERVAL_MS = 100;
    const BASE_EJECTION_MS = 500;
    const STILL_DOWN_MS = 100;
    const outlierDetection = {
      interval: `${INTERVAL_MS}ms`,
      baseEjectionTime: `${BASE_EJECTION_MS}ms`,
      maxEjectionTime: "5s",
      maxEjectionPercent: 50,
      failurePercentage: {
        threshold: 50,
        enforcementPercentage: 100,
        minimumHosts: 2,
        requestVolume: 5,
      },
    };

    /**
     * Instances A and B behind one target; B starts answering UNAVAILABLE to everything, and
     * calls go on until B has seen none of 10 in a row: it is ejected. Each counts its calls.
     */
    const ejectB = async () => {
      const counts = { a: 0, b: 0 };
      const b = { down: false };
      const addressA = await serveUsers(
        userHandlers({ getUser: () => (counts.a++, Promise.resolve({ user: USER })) }),
      );
      const addressB = await serveUsers(
        userHandlers({
          getUser: () => (
            counts.b++,
            b.down ? Promise.reject(unavailable("b is down")) : Promise.resolve({ user: USER })
          ),
        }),
      );
      // Throttling that a 50% failure rate does not exhaust, so that these tests are about
      // ejection alone: every call that met B is retried on A (mesh.yaml's: see the report).
      const peer = peerOf(
        UserServiceService,
        `ipv4:${addressA},${addressB}`,
        policyOf({ outlierDetection, retryThrottling: { maxTokens: 10, tokenRatio: 1 } }),
      );
      const outcome = { callerFailures: 0 };
      const call = (): Promise<unknown> =>
        peer.getUser(GET_USER).catch(() => outcome.callerFailures++);
      // Both connected and both serving before B goes down.
      await call();
      await delay(50);
      for (let i = 0; i < 4; i++) await call();
      expect(counts.b).toBeGreaterThan(0);

      b.down = true;
      const downAt = performance.now();
      for (let quiet = 0; quiet < 10 && performance.now() - downAt < 3_000;) {
        const before = counts.b;
        await call();
        quiet = counts.b === before ? quiet + 1 : 0;
        await delay(2);
      }
      report("outlier ejection: B ejected after (ms)", Math.round(performance.now() - downAt));
      return { counts, b, call, outcome };
    };

    it("sends at least 90% of calls to the healthy instance while the failing one is ejected, and callers see no failure", async () => {
      const { counts, call, outcome } = await ejectB();

      const before = { ...counts };
      for (let i = 0; i < 50; i++) await call();
      const toA = counts.a - before.a;
      const toB = counts.b - before.b;
      report("outlier ejection: window of 50 calls", { toA, toB });

      expect(toA / (toA + toB)).toBeGreaterThanOrEqual(0.9);
      expect(outcome.callerFailures).toBe(0);
    });

    it("re-admits a recovered instance within baseEjectionTime + interval", async () => {
      const { counts, b, call, outcome } = await ejectB();
      // B stays down a while longer (well within its ejection time), as an outage would.
      for (const until = performance.now() + STILL_DOWN_MS; performance.now() < until;) {
        await call();
        await delay(5);
      }

      // An ejected instance gets no calls to show it is back, so it is re-admitted once its
      // ejection time is over, which the next ejection check (every interval) notices.
      b.down = false;
      const upAt = performance.now();
      const seen = counts.b;
      while (counts.b === seen && performance.now() - upAt < 3_000) {
        await call();
        await delay(5);
      }
      const readmittedAfterMs = performance.now() - upAt;
      report("outlier ejection: B re-admitted after (ms)", Math.round(readmittedAfterMs));

      expect(counts.b).toBeGreaterThan(seen);
      expect(readmittedAfterMs).toBeLessThan(BASE_EJECTION_MS + INTERVAL_MS);
      expect(outcome.callerFailures).toBe(0);
    });
  });

  describe("circuit breaker", () => {
    it("fails calls at once while the circuit is open, then lets one probe reach a server that came back, and closes", async () => {
      const OPEN_FOR_MS = 1_000;
      const address = `127.0.0.1:${await freePort()}`;
      const peer = peerOf(
        UserServiceService,
        address,
        policyOf({ circuitBreaker: { failureThreshold: 5, openFor: `${OPEN_FOR_MS}ms` } }),
      );
      const changes: BreakerState[] = [];
      peer.breaker?.onStateChange((state) => changes.push(state));

      // Nothing listens: five calls fail with grpc-js's own UNAVAILABLE, and the circuit opens.
      for (let i = 0; i < 5; i++) {
        const err = await rejectionOf(peer.getUser(GET_USER));
        expect(err.code).toBe(status.UNAVAILABLE);
        expect(err.details).not.toMatch(/circuit/);
      }
      const openedAt = performance.now();
      expect(peer.breaker?.state()).toBe("open");

      // The server comes back, but while the circuit is open nothing is sent to it.
      let served = 0;
      await serveUsers(
        userHandlers({ getUser: () => (served++, Promise.resolve({ user: USER })) }),
        address,
      );
      const tookMs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const err = await rejectionOf(peer.getUser(GET_USER));
        tookMs.push(performance.now() - started);
        expect(err.code).toBe(status.UNAVAILABLE);
        expect(err.details).toMatch(/^circuit to shop\.users\.v1\.UserService is open/);
        expect(err).toHaveProperty("metadata");
      }
      // At once: no connection, no wait for a deadline. The median, since one call on a loaded
      // machine can lose the CPU for tens of milliseconds (a 22 ms one under load 11 failed CI).
      const median = [...tookMs].sort((a, b) => a - b)[tookMs.length >> 1];
      expect(median).toBeLessThan(5);
      expect(served).toBe(0);

      // After openFor, one probe goes out, reaches the server, and closes the circuit.
      await delay(OPEN_FOR_MS - (performance.now() - openedAt) + 10);
      expect(peer.breaker?.state()).toBe("half-open");
      const { user } = await peer.getUser(GET_USER);
      report("circuit breaker", {
        openRejectionMaxMs: Number(Math.max(...tookMs).toFixed(3)),
        openRejectionMeanMs: Number((tookMs.reduce((x, y) => x + y) / tookMs.length).toFixed(3)),
      });

      expect(user).toEqual(USER);
      expect(served).toBe(1);
      expect(peer.breaker?.state()).toBe("closed");
      expect(changes).toEqual(["open", "half-open", "closed"]);
    });
  });

  describe("hedging", () => {
    const SLOW_MS = 300;
    const hedged = policyOf({
      methods: {
        "shop.inventory.v1.InventoryService": {
          hedging: { maxAttempts: 2, delay: "50ms", nonFatalCodes: ["UNAVAILABLE"] },
        },
      },
    });

    /** Instance A answers after SLOW_MS, B at once; each counts the attempts it sees. */
    const slowAndFast = async () => {
      const counts = { a: 0, b: 0 };
      const instance = (name: "a" | "b") =>
        inventoryHandlers({
          listProducts: () => Promise.resolve({ products: [], nextPageToken: "" }),
          getProduct: async (_r, ctx) => {
            counts[name]++;
            if (name === "a") await sleep(SLOW_MS, ctx.signal);
            return { product: undefined };
          },
          reserveStock: async (_r, ctx) => {
            counts[name]++;
            if (name === "a") await sleep(SLOW_MS, ctx.signal);
            return { reservation: undefined };
          },
        });
      const target = `ipv4:${await serveInventory(instance("a"))},${await serveInventory(instance("b"))}`;
      const peer = peerOf(InventoryServiceService, target, hedged);
      // Both connected, so that round robin alternates between them.
      await peer.listProducts({ pageSize: 0, pageToken: "" });
      await delay(50);
      return { counts, peer };
    };

    it("answers a NO_SIDE_EFFECTS read from the fast instance when the slow one has not answered within the hedging delay", async () => {
      const { counts, peer } = await slowAndFast();

      const tookMs: number[] = [];
      for (let i = 0; i < 4; i++) {
        const started = performance.now();
        await peer.getProduct({ sku: "sku-mug" });
        tookMs.push(Math.round(performance.now() - started));
      }
      report("hedged GetProduct", { tookMs, attempts: counts });

      // Round robin alternates, so at least three of the four calls started on the slow one.
      expect(counts.a).toBeGreaterThanOrEqual(3);
      expect(Math.max(...tookMs)).toBeLessThan(200);
    });

    it("never hedges an IDEMPOTENT write, even when its service has hedging configured", async () => {
      const { counts, peer } = await slowAndFast();

      const tookMs: number[] = [];
      for (let i = 0; i < 4; i++) {
        const started = performance.now();
        await peer.reserveStock({ orderId: `ord_${i}`, items: [] });
        tookMs.push(Math.round(performance.now() - started));
      }
      report("unhedged ReserveStock", { tookMs, attempts: counts });

      expect(counts.a + counts.b).toBe(4);
      expect(counts.a).toBe(2);
      expect(Math.max(...tookMs)).toBeGreaterThanOrEqual(SLOW_MS - 5);
    });
  });

  describe("a dead dependency", () => {
    const CALLS = 200;
    /** Calls a server that answers UNAVAILABLE to everything, CALLS times in a row. */
    const hammer = async (policy: PolicyConfig): Promise<number> => {
      let seen = 0;
      const address = await serveUsers(
        userHandlers({ getUser: () => (seen++, Promise.reject(unavailable("down"))) }),
      );
      const peer = peerOf(UserServiceService, address, policy);
      for (let i = 0; i < CALLS; i++) {
        expect((await rejectionOf(peer.getUser(GET_USER))).code).toBe(status.UNAVAILABLE);
      }
      return seen;
    };
    // Short backoff, so that 600 attempts take well under a second; it changes no count.
    const retry = {
      maxAttempts: 3,
      initialBackoff: "1ms",
      maxBackoff: "5ms",
      backoffMultiplier: 2,
      retryableCodes: ["UNAVAILABLE"],
    };

    it("is sent hardly more calls than without retries, thanks to retry throttling", async () => {
      const seen = await hammer(policyOf({ defaults: { timeout: "2s", retry } }));
      report("dead dependency, mesh.yaml throttling", { calls: CALLS, seen, ratio: seen / CALLS });

      expect(seen).toBeLessThanOrEqual(1.1 * CALLS);
    });

    it("would be sent three times the calls without throttling, which is why it is on", async () => {
      const { retryThrottling: _dropped, ...unthrottled } = policyOf({
        defaults: { timeout: "2s", retry },
      });

      const seen = await hammer(unthrottled as PolicyConfig);
      report("dead dependency, no throttling", { calls: CALLS, seen, ratio: seen / CALLS });

      expect(seen).toBe(3 * CALLS);
    });
  });

  describe("the deadline as a budget", () => {
    it("ends a call through two hops at the caller's deadline, and the last hop's signal aborts with it", async () => {
      const BUDGET_MS = 300;
      const WARM_UP_MS = 50;
      // When the last hop saw its signal abort, by request.
      const backAborted = new Map<string, number>();
      const measured = deferred<void>();
      const back = await serveUsers(
        userHandlers({
          getUser: async (req, ctx) => {
            await sleep(2_000, ctx.signal);
            if (ctx.signal.aborted) backAborted.set(req.userId, performance.now());
            if (req.userId === GET_USER.userId) measured.resolve();
            return { user: USER };
          },
        }),
      );
      const backPeer = peerOf(UserServiceService, back, policyOf());
      const front = await serveUsers(
        userHandlers({ getUser: (req, ctx) => backPeer.getUser(req, { parent: ctx }) }),
      );
      const caller: Users = peerOf(UserServiceService, front, policyOf());
      // One expired call first, so that connections are up and the expiry path is compiled:
      // the first one ever costs the event loop ~10 ms once, which is not the mesh's doing.
      const warmUp = await rejectionOf(
        caller.getUser({ userId: "usr_warm" }, { timeoutMs: WARM_UP_MS }),
      );
      expect(warmUp.code).toBe(status.DEADLINE_EXCEEDED);

      const started = performance.now();
      const err = await rejectionOf(caller.getUser(GET_USER, { timeoutMs: BUDGET_MS }));
      const failedAfterMs = performance.now() - started;
      await measured.promise;
      const abortedAfterMs = (backAborted.get(GET_USER.userId) ?? Infinity) - started;
      report("deadline budget", {
        budgetMs: BUDGET_MS,
        callerFailedAfterMs: Number(failedAfterMs.toFixed(1)),
        backAbortedAfterMs: Number(abortedAfterMs.toFixed(1)),
      });

      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      expect(failedAfterMs).toBeGreaterThanOrEqual(BUDGET_MS - 5);
      expect(failedAfterMs).toBeLessThan(BUDGET_MS * 1.1);
      expect(abortedAfterMs).toBeLessThan(failedAfterMs + 50);
    });
  });
});
