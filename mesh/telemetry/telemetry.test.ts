import { connect } from "node:net";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { rejectionOf } from "../../test/support";
import { createPeer } from "../client/peer";
import { StatusError, unavailable } from "../api/errors";
import { silentLogger } from "./logger";
import { projectRoot } from "../config/paths";
import { createMeshServer, type MeshServer, type ServiceHandlers } from "../server/server";
import { openStore } from "../store/open";
import { parseTopology } from "../config/topology";
import { type PolicyConfig } from "../config/policy-schema";
import type { AdminServer } from "./admin-server";
import type { SpanRecord } from "./span-buffer";
import { createTelemetry, type Telemetry } from "./telemetry";
import { formatTraceparent, parseTraceparent } from "./traceparent";

type UserHandlers = ServiceHandlers<typeof UserServiceService>;
type InventoryHandlers = ServiceHandlers<typeof InventoryServiceService>;

const USER = {
  userId: "usr_1",
  email: "ada@example.com",
  displayName: "Ada",
  createTime: new Date(0),
};
const unimplemented = (): Promise<never> =>
  Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));
const users = (getUser: UserHandlers["getUser"]): UserHandlers => ({
  createUser: unimplemented,
  listUsers: unimplemented,
  getUser,
});
const inventory = (getProduct: InventoryHandlers["getProduct"]): InventoryHandlers => ({
  createProduct: unimplemented,
  getProduct,
  listProducts: unimplemented,
  reserveStock: unimplemented,
  releaseStock: unimplemented,
  getReservation: unimplemented,
});

function policyOf(policy: Record<string, unknown> = {}): PolicyConfig {
  return parseTopology(
    {
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
        retryThrottling: { maxTokens: 10, tokenRatio: 1 },
        ...policy,
      },
    },
    "test-topology",
  ).policy;
}

/** A mesh process in miniature: telemetry, a server with it, and its admin server. */
interface Member {
  telemetry: Telemetry;
  server: MeshServer;
  address: string;
  admin: AdminServer;
  get(path: string): Promise<{ status: number; body: string }>;
}

describe("telemetry", () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function member(
    service: string,
    register: (server: MeshServer, telemetry: Telemetry) => void,
    policy = policyOf(),
  ): Promise<Member> {
    const log = silentLogger();
    const telemetry = createTelemetry({ service, member: `${service}-1`, log, policy });
    const server = createMeshServer({ log, telemetry, shutdownGraceMs: 500 });
    register(server, telemetry);
    const port = await server.listen("127.0.0.1:0");
    server.ready();
    const admin = await telemetry.serveAdmin("127.0.0.1", 0);
    closers.push(
      () => server.shutdown(),
      () => admin.close(),
    );
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
      return { status: res.status, body: await res.text() };
    };
    return { telemetry, server, address: `127.0.0.1:${port}`, admin, get };
  }

  /** A users leaf, and an inventory member whose GetProduct calls it (as parent), then throws. */
  async function twoHops(failure: () => Error): Promise<{ leaf: Member; middle: Member }> {
    const leaf = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() => Promise.resolve({ user: USER })),
      ),
    );
    const middle = await member("inventory", (s, telemetry) => {
      const peer = createPeer(UserServiceService, {
        target: leaf.address,
        policy: policyOf(),
        telemetry,
      });
      closers.push(() => peer.close());
      s.addService(
        InventoryServiceService,
        inventory(async (_request, context) => {
          await peer.getUser({ userId: "usr_1" }, { parent: context });
          throw failure();
        }),
      );
    });
    return { leaf, middle };
  }

  const spansOf = async (m: Member): Promise<SpanRecord[]> =>
    (JSON.parse((await m.get("/traces")).body) as { spans: SpanRecord[] }).spans;

  it("counts a call on both sides and records it as one trace: client span, then server span", async () => {
    const callee = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() => Promise.resolve({ user: USER })),
      ),
    );
    const caller = createTelemetry({ service: "orders", member: "orders-1", log: silentLogger() });
    const peer = createPeer(UserServiceService, {
      target: callee.address,
      policy: policyOf(),
      telemetry: caller,
    });
    closers.push(() => peer.close());

    await peer.getUser({ userId: "usr_1" });

    const metrics = (await callee.get("/metrics")).body;
    expect(metrics).toContain(
      'grpc_server_handled_total{grpc_service="shop.users.v1.UserService",grpc_method="GetUser",grpc_type="unary",grpc_code="OK",service="users",member="users-1"} 1',
    );
    expect(metrics).toMatch(
      /grpc_server_handling_seconds_count\{[^}]*grpc_method="GetUser"[^}]*\} 1/,
    );
    expect(metrics).toContain("process_cpu_user_seconds_total");
    const callerMetrics = await caller.metrics.registry.metrics();
    expect(callerMetrics).toContain(
      'grpc_client_handled_total{peer="users",grpc_service="shop.users.v1.UserService",grpc_method="GetUser",grpc_type="unary",grpc_code="OK",service="orders",member="orders-1"} 1',
    );
    const [server] = await spansOf(callee);
    const [client] = caller.tracing.buffer.query();
    expect(client).toMatchObject({ name: "shop.users.v1.UserService/GetUser", kind: "client" });
    expect(server).toMatchObject({
      name: "shop.users.v1.UserService/GetUser",
      kind: "server",
      service: "users",
      member: "users-1",
      status: "OK",
      traceId: client.traceId,
      parentSpanId: client.spanId,
    });
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.durationMs).toBeGreaterThan(0);
  });

  it("carries the trace through a second hop when the handler passes its context as parent", async () => {
    const { leaf, middle } = await twoHops(
      () => new StatusError(status.NOT_FOUND, "no such product"),
    );
    const client = createPeer(InventoryServiceService, {
      target: middle.address,
      policy: policyOf(),
    });
    closers.push(() => client.close());

    const err = await rejectionOf(client.getProduct({ sku: "sku-x" }));

    expect(err.code).toBe(status.NOT_FOUND);
    const middleSpans = await spansOf(middle);
    const inbound = middleSpans.find((s) => s.kind === "server");
    const outbound = middleSpans.find((s) => s.kind === "client");
    const [leafSpan] = await spansOf(leaf);
    expect(inbound?.status).toBe("NOT_FOUND");
    expect(inbound?.parentSpanId).toBeUndefined();
    expect(outbound?.parentSpanId).toBe(inbound?.spanId);
    expect(leafSpan.parentSpanId).toBe(outbound?.spanId);
    expect(new Set([inbound?.traceId, outbound?.traceId, leafSpan.traceId]).size).toBe(1);
  });

  it("records new traces up to MESH_TRACE_SAMPLE's rate; the rest keep a trace id, unrecorded downstream too", async () => {
    process.env.MESH_TRACE_SAMPLE = "2/s";
    let hops: { leaf: Member; middle: Member };
    try {
      hops = await twoHops(() => new Error("boom"));
    } finally {
      delete process.env.MESH_TRACE_SAMPLE;
    }
    const { leaf, middle } = hops;
    const client = createPeer(InventoryServiceService, {
      target: middle.address,
      policy: policyOf(),
    });
    closers.push(() => client.close());

    const answered: string[] = [];
    for (let i = 0; i < 6; i++) {
      answered.push((await rejectionOf(client.getProduct({ sku: "sku-x" }))).details);
    }

    // Every answer names its own trace, recorded or not.
    const traceIds = answered.map(
      (d) => /^internal error \(trace id ([0-9a-f]{32})\)$/.exec(d)?.[1],
    );
    expect(new Set(traceIds).size).toBe(6);
    const inbound = (await spansOf(middle)).filter((s) => s.kind === "server");
    // A burst of two (one more if a call took half a second), and no more.
    expect(inbound.length).toBeGreaterThanOrEqual(2);
    expect(inbound.length).toBeLessThan(6);
    for (const span of inbound) expect(traceIds).toContain(span.traceId);
    // The leaf follows the caller's decision: exactly the recorded traces reach its buffer.
    const leafTraces = (await spansOf(leaf)).map((s) => s.traceId).sort();
    expect(leafTraces).toEqual(inbound.map((s) => s.traceId).sort());
  });

  it("answers a handler's bug with INTERNAL naming the call's real trace id", async () => {
    const callee = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() => Promise.reject(new Error("boom"))),
      ),
    );
    const peer = createPeer(UserServiceService, { target: callee.address, policy: policyOf() });
    closers.push(() => peer.close());

    const err = await rejectionOf(peer.getUser({ userId: "usr_1" }));

    const [span] = await spansOf(callee);
    expect(err.code).toBe(status.INTERNAL);
    expect(err.details).toBe(`internal error (trace id ${span.traceId})`);
    expect(span.status).toBe("INTERNAL");
  });

  it("counts retried attempts on the server that receives them", async () => {
    let calls = 0;
    const callee = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() =>
          ++calls === 1 ? Promise.reject(unavailable("not yet")) : Promise.resolve({ user: USER }),
        ),
      ),
    );
    const peer = createPeer(UserServiceService, { target: callee.address, policy: policyOf() });
    closers.push(() => peer.close());

    await peer.getUser({ userId: "usr_1" });

    const metrics = (await callee.get("/metrics")).body;
    expect(calls).toBe(2);
    expect(metrics).toMatch(
      /mesh_client_retries_total\{peer="users",grpc_method="GetUser"[^}]*\} 1/,
    );
    expect(metrics).toMatch(/grpc_server_handled_total\{[^}]*grpc_code="UNAVAILABLE"[^}]*\} 1/);
  });

  it("times store queries and traces them under the call that made them", async () => {
    const log = silentLogger();
    const telemetry = createTelemetry({ service: "users", member: "users-1", log });
    const store = await openStore({ file: ":memory:", migrations: [], telemetry });
    closers.push(() => store.close());
    await store.db.schema.createTable("users", (t) => t.string("user_id"));
    const server = createMeshServer({ log, telemetry, shutdownGraceMs: 500 });
    server.addService(
      UserServiceService,
      users(async () => {
        await store.db("users").insert({ user_id: "usr_1" });
        await store.db("users").where({ user_id: "usr_1" }).first();
        return { user: USER };
      }),
    );
    const port = await server.listen("127.0.0.1:0");
    server.ready();
    closers.push(() => server.shutdown());
    const peer = createPeer(UserServiceService, {
      target: `127.0.0.1:${port}`,
      policy: policyOf(),
    });
    closers.push(() => peer.close());

    await peer.getUser({ userId: "usr_1" });

    const spans = telemetry.tracing.buffer.query();
    const rpc = spans.find((s) => s.kind === "server");
    const queries = spans.filter((s) => s.name.startsWith("store "));
    expect(queries.map((s) => s.name)).toEqual(["store insert users", "store select users"]);
    for (const query of queries) {
      expect(query).toMatchObject({ traceId: rpc?.traceId, parentSpanId: rpc?.spanId });
    }
    const metrics = await telemetry.metrics.registry.metrics();
    expect(metrics).toMatch(/mesh_store_query_duration_seconds_count\{op="insert users"[^}]*\} 1/);
  });

  it("shows an open circuit in mesh_breaker_state and counts the calls it refuses", async () => {
    const callee = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() => Promise.reject(unavailable("down"))),
      ),
    );
    const caller = createTelemetry({ service: "orders", member: "orders-1", log: silentLogger() });
    const peer = createPeer(UserServiceService, {
      target: callee.address,
      telemetry: caller,
      policy: policyOf({ circuitBreaker: { failureThreshold: 2, openFor: "5s" } }),
    });
    closers.push(() => peer.close());
    const metric = async (prefix: string): Promise<number> => {
      const line = (await caller.metrics.registry.metrics())
        .split("\n")
        .find((l) => l.startsWith(prefix));
      return Number(line?.split(" ").pop());
    };
    expect(await metric('mesh_breaker_state{peer="users"')).toBe(0);

    for (let i = 0; i < 3; i++) await peer.getUser({ userId: "usr_1" }).catch(() => undefined);

    expect(await metric('mesh_breaker_state{peer="users"')).toBe(2);
    expect(
      await metric(
        'grpc_client_handled_total{peer="users",grpc_service="shop.users.v1.UserService",grpc_method="GetUser",grpc_type="unary",grpc_code="UNAVAILABLE"',
      ),
    ).toBe(3);
  });

  it("counts the ejection of a failing instance for its peer", async () => {
    const down = { b: false };
    const a = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() => Promise.resolve({ user: USER })),
      ),
    );
    const b = await member("users", (s) =>
      s.addService(
        UserServiceService,
        users(() =>
          down.b ? Promise.reject(unavailable("down")) : Promise.resolve({ user: USER }),
        ),
      ),
    );
    const caller = createTelemetry({ service: "orders", member: "orders-1", log: silentLogger() });
    const peer = createPeer(UserServiceService, {
      target: `ipv4:${a.address},${b.address}`,
      telemetry: caller,
      policy: policyOf({
        outlierDetection: {
          interval: "1s",
          baseEjectionTime: "5s",
          maxEjectionTime: "5s",
          maxEjectionPercent: 50,
          failurePercentage: {
            threshold: 50,
            enforcementPercentage: 100,
            minimumHosts: 2,
            requestVolume: 5,
          },
        },
      }),
    });
    closers.push(() => peer.close());
    const ejections = async (): Promise<number> => {
      const line = (await caller.metrics.registry.metrics())
        .split("\n")
        .find((l) => l.startsWith('mesh_outlier_ejections_total{peer="users"'));
      return Number(line?.split(" ").pop());
    };
    await peer.getUser({ userId: "usr_1" });
    expect(await ejections()).toBe(0);

    down.b = true;
    // Batches of calls, so that B sees its request volume within one interval even on a busy
    // machine.
    const giveUp = Date.now() + 15_000;
    while ((await ejections()) === 0 && Date.now() < giveUp) {
      await Promise.all(
        Array.from({ length: 10 }, () => peer.getUser({ userId: "usr_1" }).catch(() => undefined)),
      );
    }

    expect(await ejections()).toBe(1);
  });

  // In a child process: the OTLP exporter loads node:http with import(), which jest's module
  // system refuses (it would need --experimental-vm-modules); node runs it as services do.
  it("sends spans over OTLP/HTTP when an endpoint is configured", async () => {
    const received: { url?: string; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ url: req.url, body });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise((resolve) => collector.close(resolve)));
    const { port } = collector.address() as { port: number };
    const script = `
      const { createTelemetry, silentLogger } = require(${JSON.stringify(join(projectRoot(), "dist", "mesh", "telemetry"))});
      const telemetry = createTelemetry({ service: "users", member: "users-1", log: silentLogger() });
      const span = telemetry.tracing.tracer.startSpan("shop.users.v1.UserService/GetUser");
      span.end();
      telemetry.flush().then(() => console.log(span.spanContext().traceId));`;

    const { stdout } = await promisify(execFile)(process.execPath, ["-e", script], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` },
    });
    const traceId = stdout.trim();

    expect(received.map((r) => r.url)).toEqual(["/v1/traces"]);
    expect(received[0].body).toContain(traceId);
    expect(received[0].body).toContain("shop.users.v1.UserService/GetUser");
  });

  describe("admin server", () => {
    it("serves /healthz, refuses a bad /traces parameter naming it, and 404s the rest", async () => {
      const m = await member("users", () => undefined);

      expect(await m.get("/healthz")).toEqual({ status: 200, body: "ok" });
      expect(await m.get("/traces?since=yesterday")).toEqual({
        status: 400,
        body: 'since: must be a non-negative number, got "yesterday"\n',
      });
      expect((await m.get("/nothing")).status).toBe(404);
    });

    it("answers request targets that are no path with 400, not 500, and takes absolute-form", async () => {
      const m = await member("users", () => undefined);
      // Written on a socket: fetch would never send these targets.
      const statusLine = (target: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = connect(m.admin.port, "127.0.0.1");
          let answer = "";
          socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
          socket.on("error", reject);
          socket.on("close", () => resolve(answer.split("\r\n")[0]));
          socket.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        });

      for (const target of ["//", "//evil.example/metrics", "http://[", "http://a:99999/", "*"]) {
        expect({ target, answer: await statusLine(target) }).toEqual({
          target,
          answer: "HTTP/1.1 400 Bad Request",
        });
      }
      expect(await statusLine("http://127.0.0.1/healthz")).toBe("HTTP/1.1 200 OK");
    });
  });

  describe("traceparent", () => {
    it("reads back what it writes, and refuses malformed or all-zero ids", () => {
      const context = parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

      expect(context).toMatchObject({
        traceId: "0af7651916cd43dd8448eb211c80319c",
        spanId: "b7ad6b7169203331",
        traceFlags: 1,
      });
      expect(formatTraceparent(context!)).toBe(
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      );
      for (const bad of [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        undefined,
      ]) {
        expect(parseTraceparent(bad)).toBeUndefined();
      }
    });
  });
});
