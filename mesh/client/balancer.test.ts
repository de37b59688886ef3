import { experimental, status } from "@grpc/grpc-js";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { startTestServer, type TestServer } from "../../test/support";
import { StatusError } from "../api/errors";
import { parseTopology } from "../config/topology";
import type { PolicyConfig } from "../config/policy-schema";
import { createTelemetry } from "../telemetry";
import { silentLogger } from "../telemetry/logger";
import type { ServiceHandlers } from "../server/server";
import { MESH_BALANCER, meshBalancing, RECENT_FAILURE_MS } from "./balancer";
import { createPeer, type Peer } from "./peer";

type Users = Peer<typeof UserServiceService>;
const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const GET_USER = { userId: "usr_1" };
const BASE_EJECTION_MS = 1_500;

/** How an instance answers GetUser: normally, with an error of this code, or not at all. */
type Mode = "ok" | "stall" | status;

/** A policy as mesh.yaml's, with the given outlier detection and retries off (counts are exact). */
function policyOf(outlierDetection: Record<string, unknown>): PolicyConfig {
  return parseTopology(
    {
      services: {},
      policy: {
        defaults: {
          timeout: "300ms",
          retry: {
            maxAttempts: 1,
            initialBackoff: "10ms",
            maxBackoff: "50ms",
            backoffMultiplier: 2,
            retryableCodes: ["UNAVAILABLE"],
          },
        },
        retryThrottling: { maxTokens: 10, tokenRatio: 0.5 },
        outlierDetection,
      },
    },
    "test-topology",
  ).policy;
}

const OUTLIER_DETECTION = {
  interval: "100ms",
  baseEjectionTime: `${BASE_EJECTION_MS}ms`,
  maxEjectionTime: "10s",
  maxEjectionPercent: 50,
  failurePercentage: {
    threshold: 50,
    enforcementPercentage: 100,
    minimumHosts: 2,
    requestVolume: 5,
  },
  consecutiveFailures: 5,
};

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("the mesh balancer", () => {
  const servers: TestServer[] = [];
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  /** An instance of UserService that counts its calls and answers as `mode.now` says. */
  const instance = async (address?: string) => {
    const state = { calls: 0, mode: "ok" as Mode };
    const getUser: ServiceHandlers<typeof UserServiceService>["getUser"] = async (_req, ctx) => {
      state.calls++;
      const { mode } = state;
      if (mode === "stall") {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      } else if (mode !== "ok") throw new StatusError(mode, `instance answers ${status[mode]}`);
      return { user: USER };
    };
    const unimplemented = () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "no"));
    const server = await startTestServer(
      (s) =>
        s.addService(UserServiceService, {
          getUser,
          createUser: unimplemented,
          listUsers: unimplemented,
        }),
      address,
    );
    servers.push(server);
    return { state, server };
  };

  /** Two instances A and B behind one peer, both connected, and the peer's ejection count. */
  const pair = async (outlierDetection: Record<string, unknown> = OUTLIER_DETECTION) => {
    const a = await instance();
    const b = await instance();
    const telemetry = createTelemetry({
      service: "orders",
      member: "orders-1",
      log: silentLogger(),
    });
    const peer: Users = createPeer(UserServiceService, {
      target: `ipv4:${a.server.address},${b.server.address}`,
      policy: policyOf(outlierDetection),
      telemetry,
    });
    closers.push(() => peer.close());
    const ejections = telemetry.metrics.ejections.series({ peer: "users" });
    // Both connected: calls until each instance has seen one.
    for (let i = 0; i < 50 && (a.state.calls === 0 || b.state.calls === 0); i++) {
      await peer.getUser(GET_USER);
    }
    expect(Math.min(a.state.calls, b.state.calls)).toBeGreaterThan(0);
    return { a: a.state, b: b.state, bServer: b.server, peer, ejections };
  };

  /**
   * Calls, a few at a time, until the failing instance is ejected (bounded): after each
   * failure it is passed over for RECENT_FAILURE_MS, so its failures in a row take seconds.
   */
  const untilEjected = async (peer: Users, ejections: { value: number }): Promise<void> => {
    for (const giveUp = Date.now() + 15_000; ejections.value === 0 && Date.now() < giveUp;) {
      await calls(peer, 4, 4);
      await delay(50);
    }
    expect(ejections.value).toBe(1);
  };

  /** `n` calls, `parallel` at a time; resolves to the codes they ended with. */
  const calls = async (peer: Users, n: number, parallel = 5): Promise<status[]> => {
    const codes: status[] = [];
    for (let i = 0; i < n; i += parallel) {
      const batch = Array.from({ length: Math.min(parallel, n - i) }, () =>
        peer.getUser(GET_USER).then(
          () => status.OK,
          (err: { code: status }) => err.code,
        ),
      );
      codes.push(...(await Promise.all(batch)));
    }
    return codes;
  };

  const named = (codes: status[]): [string, status][] => codes.map((c) => [status[c], c]);

  it.each(
    named([
      status.FAILED_PRECONDITION,
      status.NOT_FOUND,
      status.INVALID_ARGUMENT,
      status.ALREADY_EXISTS,
      status.PERMISSION_DENIED,
      status.UNAUTHENTICATED,
      status.ABORTED,
      status.OUT_OF_RANGE,
      status.RESOURCE_EXHAUSTED,
    ]),
  )(
    "never ejects an instance whose every answer is a refusal (%s): both keep half the calls",
    async (_name, code) => {
      const { a, b, peer, ejections } = await pair();
      b.mode = code;
      const before = { a: a.calls, b: b.calls };

      // Well over the request volume per interval, for several intervals.
      const codes = await calls(peer, 200, 10);

      const toA = a.calls - before.a;
      const toB = b.calls - before.b;
      expect(ejections.value).toBe(0);
      expect(toA + toB).toBe(200);
      expect(Math.abs(toA - toB)).toBeLessThanOrEqual(10);
      expect(codes.filter((c) => c === code)).toHaveLength(toB);
    },
  );

  it.each(named([status.UNAVAILABLE, status.INTERNAL, status.UNKNOWN]))(
    "ejects an instance failing with %s, sends the calls to the other, and counts the ejection",
    async (_name, code) => {
      const { a, b, peer, ejections } = await pair();
      b.mode = code;

      await untilEjected(peer, ejections);
      const before = { a: a.calls, b: b.calls };
      const codes = await calls(peer, 40, 4);

      expect(ejections.value).toBe(1);
      expect(b.calls - before.b).toBe(0);
      expect(a.calls - before.a).toBe(40);
      expect(codes.every((c) => c === status.OK)).toBe(true);
    },
  );

  it("ejects a stuck instance whose calls end at their deadline (DEADLINE_EXCEEDED)", async () => {
    const { a, b, peer, ejections } = await pair();
    b.mode = "stall";

    // Ten calls at a time: five or so meet B and time out together, five in a row for B.
    const first = await calls(peer, 20, 10);
    const before = { a: a.calls, b: b.calls };
    const after = await calls(peer, 20, 10);

    expect(first.filter((c) => c === status.DEADLINE_EXCEEDED).length).toBeGreaterThanOrEqual(5);
    expect(ejections.value).toBe(1);
    expect(b.calls - before.b).toBe(0);
    expect(a.calls - before.a).toBe(20);
    expect(after.every((c) => c === status.OK)).toBe(true);
  });

  it("re-admits an ejected instance once its ejection time is served", async () => {
    const { b, peer, ejections } = await pair();
    b.mode = status.UNAVAILABLE;
    await untilEjected(peer, ejections);
    b.mode = "ok";
    const ejectedAt = Date.now();

    let seen = b.calls;
    while (b.calls === seen && Date.now() - ejectedAt < BASE_EJECTION_MS * 3) {
      seen = b.calls;
      await calls(peer, 2, 1);
      await delay(20);
    }
    const backAfterMs = Date.now() - ejectedAt;

    expect(b.calls).toBeGreaterThan(seen);
    expect(backAfterMs).toBeGreaterThanOrEqual(BASE_EJECTION_MS - 150);
    expect(backAfterMs).toBeLessThan(BASE_EJECTION_MS + 1_000);
  });

  it("re-admits an ejected instance at once when it comes back on a new connection (a restart)", async () => {
    const { b, bServer, peer, ejections } = await pair({
      ...OUTLIER_DETECTION,
      baseEjectionTime: "30s",
      maxEjectionTime: "30s",
    });
    b.mode = status.UNAVAILABLE;
    await untilEjected(peer, ejections);

    // B's process "dies" and a new one listens on the same address, long before 30 s are up.
    const address = bServer.address;
    await bServer.server.shutdown(0);
    servers.splice(servers.indexOf(bServer), 1);
    const restarted = await instance(address);
    const upAt = Date.now();
    while (restarted.state.calls === 0 && Date.now() - upAt < 5_000) {
      await calls(peer, 2, 1);
      await delay(20);
    }

    expect(restarted.state.calls).toBeGreaterThan(0);
    expect(Date.now() - upAt).toBeLessThan(3_000);
  });

  it("passes over an instance whose call just failed while the other answers, then tries it again", async () => {
    const { a, b, peer, ejections } = await pair();
    b.mode = status.UNAVAILABLE;
    // One call fails on B (the rotation sends one of every two there).
    while ((await calls(peer, 1, 1))[0] === status.OK);
    const failedAt = Date.now();
    const before = { a: a.calls, b: b.calls };

    const soon = await calls(peer, 10, 1);
    const soonMs = Date.now() - failedAt;
    await delay(RECENT_FAILURE_MS - soonMs + 50);
    await calls(peer, 2, 1);

    expect(soonMs).toBeLessThan(RECENT_FAILURE_MS);
    expect(soon.every((c) => c === status.OK)).toBe(true);
    expect(a.calls - before.a).toBeGreaterThanOrEqual(10);
    // Past the pause, B is in the rotation again: not ejected by one failure.
    expect(b.calls - before.b).toBe(1);
    expect(ejections.value).toBe(0);
  });

  it("balances over every instance rather than none when all of them would be ejected (panic)", async () => {
    const { a, b, peer, ejections } = await pair({ ...OUTLIER_DETECTION, maxEjectionPercent: 100 });
    a.mode = status.INTERNAL;
    b.mode = status.INTERNAL;
    await calls(peer, 40, 1);
    expect(ejections.value).toBe(2);
    a.mode = "ok";
    b.mode = "ok";
    const before = { a: a.calls, b: b.calls };

    const codes = await calls(peer, 20, 1);

    // Both ejected, and both still called: the answers come from the instances, not from a
    // balancer with no instance to pick.
    expect(codes.every((c) => c === status.OK)).toBe(true);
    expect(a.calls - before.a).toBe(10);
    expect(b.calls - before.b).toBe(10);
  });

  it("never ejects past maxEjectionPercent: of two failing instances, one stays in", async () => {
    const { a, b, peer, ejections } = await pair();
    a.mode = status.UNAVAILABLE;
    b.mode = status.UNAVAILABLE;

    await calls(peer, 60, 3);

    expect(ejections.value).toBe(1);
    expect(a.calls + b.calls).toBeGreaterThan(60);
  });

  it("refuses loudly a config grpc-js would otherwise drop for pick_first", () => {
    const policy = policyOf(OUTLIER_DETECTION);
    const invalid = { ...policy.outlierDetection!, maxEjectionPercent: 150 };

    expect(() => meshBalancing(invalid)).toThrow(
      `policy.outlierDetection: ${MESH_BALANCER}: max_ejection_percent must be a percentage (0-100), got 150`,
    );
    // What the check guards against: grpc-js selects no config from a list it cannot parse.
    expect(
      experimental.selectLbConfigFromList([{ [MESH_BALANCER]: { interval_ms: 0 } }]),
    ).toBeNull();
  });
});
