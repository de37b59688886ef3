import { seededRandom } from "../api/random";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import pino from "pino";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { rejectionOf } from "../../test/support";
import { createPeer, type Peer } from "../client/peer";
import { StatusError } from "../api/errors";
import { createFaultSource, watchFaults, type FaultSource } from "./faults";
import { silentLogger, type Logger } from "../telemetry/logger";
import { projectRoot } from "../config/paths";
import { createMeshServer, type MeshServer } from "./server";
import { parseTopology, type FaultConfig } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";

const FIRST_PAGE = { pageSize: 0, pageToken: "" };
const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const GET_USER = "/shop.users.v1.UserService/GetUser";

/** A policy without retries, so that every injected failure reaches the caller. */
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

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Retries `check` until it passes or `timeoutMs` is spent, then throws its last failure. */
async function eventually(check: () => void | Promise<void>, timeoutMs = 2_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > end) throw err;
      await sleep(50);
    }
  }
}

/** GetUser from a plain grpc-js client, with the deadline given; returns the call too. */
function rawGetUser(client: Client, deadlineMs: number) {
  const method = UserServiceService.getUser;
  let call!: { cancel(): void };
  const result = new Promise<GetUserResponse>((resolve, reject) => {
    call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { userId: "usr_1" },
      new Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
  return { call, result };
}

const abortAll = (percentage: number, method?: string): FaultConfig => ({
  service: "users",
  ...(method ? { method } : {}),
  abort: { percentage, code: "UNAVAILABLE" },
});

describe("fault injection", () => {
  let server: MeshServer | undefined;
  let source: FaultSource | undefined;
  const channels: { close(): void }[] = [];
  afterEach(async () => {
    for (const channel of channels.splice(0)) channel.close();
    source?.stop();
    await server?.shutdown();
    server = source = undefined;
  });

  /** A users server whose faults come from `faults`; counts the calls its handlers see. */
  const start = async (faults: FaultSource) => {
    source = faults;
    const handled = { getUser: 0, listUsers: 0 };
    server = createMeshServer({ log: silentLogger(), shutdownGraceMs: 1_000, faults });
    server.addService(UserServiceService, {
      createUser: () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub")),
      getUser: () => (handled.getUser++, Promise.resolve({ user: USER })),
      listUsers: () => (handled.listUsers++, Promise.resolve({ users: [USER], nextPageToken: "" })),
    });
    const address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    server.ready();
    const peer = createPeer(UserServiceService, { target: address, policy: noRetries() });
    const raw = new Client(address, credentials.createInsecure());
    channels.push(peer, raw);
    return { peer, raw, handled };
  };

  /** How long each of `n` GetUser calls took, one after another. */
  const timings = async (peer: Peer<typeof UserServiceService>, n: number) => {
    const took: number[] = [];
    for (let i = 0; i < n; i++) {
      const started = performance.now();
      await peer.getUser({ userId: "usr_1" });
      took.push(performance.now() - started);
    }
    return took.sort((a, b) => a - b);
  };

  it("aborts about 20% of 1000 calls with UNAVAILABLE and a message naming the fault (seeded)", async () => {
    const { peer, handled } = await start(
      createFaultSource("users", [abortAll(20, "shop.users.v1.UserService/GetUser")], {
        random: seededRandom(20_261_126),
      }),
    );

    const failures: ServiceError[] = [];
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, () =>
          peer.getUser({ userId: "usr_1" }).catch((err: ServiceError) => void failures.push(err)),
        ),
      );
    }

    // Binomial(1000, 0.2) has a standard deviation of about 13; ±40 is three of them.
    expect(failures.length).toBeGreaterThan(160);
    expect(failures.length).toBeLessThan(240);
    expect(handled.getUser).toBe(1000 - failures.length);
    for (const err of failures) {
      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toBe(`fault injected: UNAVAILABLE (20% of ${GET_USER})`);
    }
  });

  it("adds about 100 ms to every call with a 100% delay of 100 ms", async () => {
    const faults = createFaultSource("users");
    const { peer } = await start(faults);
    await timings(peer, 3); // warm up the connection
    const before = await timings(peer, 5);

    faults.set([{ service: "users", delay: { percentage: 100, duration: 100 } }]);
    const after = await timings(peer, 5);

    // Fastest against fastest: the least disturbed by whatever else the machine is doing.
    expect(after[0]).toBeGreaterThanOrEqual(100);
    const added = after[0] - before[0];
    expect(added).toBeGreaterThanOrEqual(95);
    expect(added).toBeLessThan(160);
  });

  it("injects a fault that names a method into that method only", async () => {
    const { peer, handled } = await start(
      createFaultSource("users", [abortAll(100, "shop.users.v1.UserService/GetUser")]),
    );

    const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));
    const listed = await peer.listUsers(FIRST_PAGE);

    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toBe(`fault injected: UNAVAILABLE (100% of ${GET_USER})`);
    expect(listed.users).toEqual([USER]);
    expect(handled).toEqual({ getUser: 0, listUsers: 1 });
  });

  it("prefers a fault naming the method to one for the whole service, whatever their order", async () => {
    const { peer } = await start(
      createFaultSource("users", [
        abortAll(100),
        {
          service: "users",
          method: "shop.users.v1.UserService/GetUser",
          delay: { percentage: 100, duration: 10 },
        },
      ]),
    );

    expect((await peer.getUser({ userId: "usr_1" })).user).toEqual(USER);
    expect((await rejectionOf(peer.listUsers(FIRST_PAGE))).details).toBe(
      "fault injected: UNAVAILABLE (100% of /shop.users.v1.UserService/ListUsers)",
    );
  });

  it("ignores faults for other services", async () => {
    const { peer } = await start(
      createFaultSource("users", [{ ...abortAll(100), service: "payments" }]),
    );

    expect((await peer.getUser({ userId: "usr_1" })).user).toEqual(USER);
  });

  it("ends a delay longer than the deadline with DEADLINE_EXCEEDED at the deadline, and the handler never runs", async () => {
    const { raw, handled } = await start(
      createFaultSource("users", [
        { service: "users", delay: { percentage: 100, duration: 2_000 } },
      ]),
    );
    const started = Date.now();

    const err = await rejectionOf(rawGetUser(raw, 200).result);

    const took = Date.now() - started;
    expect(err.code).toBe(status.DEADLINE_EXCEEDED);
    expect(took).toBeGreaterThanOrEqual(195);
    // At the deadline, not at the delay's end (a loaded machine is late by a few hundred ms).
    expect(took).toBeLessThan(1_000);
    await sleep(2_000 - took + 100);
    expect(handled.getUser).toBe(0);
  });

  it("stops a delay when the caller cancels, and the handler never runs", async () => {
    const { raw, handled } = await start(
      createFaultSource("users", [{ service: "users", delay: { percentage: 100, duration: 300 } }]),
    );

    const { call, result } = rawGetUser(raw, 5_000);
    await sleep(50);
    call.cancel();

    expect((await rejectionOf(result)).code).toBe(status.CANCELLED);
    await sleep(400);
    expect(handled.getUser).toBe(0);
  });
});

describe("live reload of faults", () => {
  let dir: string;
  let file: string;
  let server: MeshServer | undefined;
  let source: FaultSource | undefined;
  let peer: Peer<typeof UserServiceService> | undefined;
  const project = parseYaml(readFileSync(join(projectRoot(), "mesh.yaml"), "utf8")) as Record<
    string,
    unknown
  >;

  /** Writes the project's mesh.yaml with `faults` swapped in, atomically as editors do. */
  const writeTopology = (faults: unknown): void => {
    writeFileSync(`${file}.tmp`, stringifyYaml({ ...project, faults }));
    renameSync(`${file}.tmp`, file);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "mesh-faults-"));
    file = join(dir, "mesh.yaml");
    writeTopology([]);
  });
  afterEach(async () => {
    peer?.close();
    source?.stop();
    await server?.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it("turns a fault on, keeps it through an invalid file, and turns it off, without a restart", async () => {
    const { log, lines } = capturingLogger();
    source = watchFaults(file, "users", log); // polls every 500 ms, as services do
    server = createMeshServer({ log: silentLogger(), faults: source });
    server.addService(UserServiceService, {
      createUser: () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub")),
      getUser: () => Promise.resolve({ user: USER }),
      listUsers: () => Promise.resolve({ users: [], nextPageToken: "" }),
    });
    const address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    server.ready();
    peer = createPeer(UserServiceService, { target: address, policy: noRetries() });
    const client = peer;
    const succeeds = async () =>
      expect((await client.getUser({ userId: "usr_1" })).user).toEqual(USER);
    const injected = async () => {
      const err = await rejectionOf(client.getUser({ userId: "usr_1" }));
      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toBe(`fault injected: UNAVAILABLE (100% of ${GET_USER})`);
    };
    await succeeds();

    writeTopology([abortAll(100)]);
    await eventually(injected);
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: "faults changed",
        faults: ["abort UNAVAILABLE 100% on every method of users"],
        previous: [],
      }),
    );

    writeTopology([{ service: "users", abort: { percentage: 150, code: "UNAVAILABLE" } }]);
    await eventually(() =>
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 50,
          msg: "topology file is invalid; the faults in force stay",
          err: expect.stringContaining("faults.0.abort.percentage") as unknown,
        }),
      ),
    );
    await injected();

    writeTopology([]);
    await eventually(succeeds);
  });

  it("sees a change written the moment after it started watching", async () => {
    source = watchFaults(file, "users", silentLogger(), { intervalMs: 50 });

    writeTopology([abortAll(100)]);

    await eventually(() => expect(source?.faults).toEqual([abortAll(100)]));
  });

  it("puts an override file's faults before the topology's, follows it, and keeps them through a broken one", async () => {
    const overrides = join(dir, "faults-override.json");
    const writeOverrides = (text: string): void => {
      writeFileSync(`${overrides}.tmp`, text);
      renameSync(`${overrides}.tmp`, overrides);
    };
    const delayAll = { service: "users", delay: { percentage: 100, duration: "5ms" } };
    writeTopology([abortAll(100)]);
    source = watchFaults(file, "users", silentLogger(), {
      intervalMs: 50,
      overrideFile: overrides,
    });
    expect(source.faults).toEqual([abortAll(100)]);

    writeOverrides(JSON.stringify({ faults: [delayAll] }));
    await eventually(() =>
      expect(source?.faults).toEqual([
        { service: "users", delay: { percentage: 100, duration: 5 } },
        abortAll(100),
      ]),
    );

    writeOverrides("{ not json");
    await sleep(300);
    expect(source.faults).toHaveLength(2);

    rmSync(overrides);
    await eventually(() => expect(source?.faults).toEqual([abortAll(100)]));
  });

  it("stops following the file after stop()", async () => {
    source = watchFaults(file, "users", silentLogger(), { intervalMs: 50 });
    source.stop();

    writeTopology([abortAll(100)]);
    await sleep(300);

    expect(source.faults).toEqual([]);
  });
});
