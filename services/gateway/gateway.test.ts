/* eslint-disable @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access,
   @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return,
   @typescript-eslint/no-explicit-any --
   The gateway's answers are JSON read as `any` and pinned by expect(), field by field. */
import { randomUUID } from "node:crypto";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createMeshServer, silentLogger, type ServiceHandlers, type Store } from "../../mesh";
import { createFaultSource, faultsOverrideFile, watchFaults } from "../../mesh/server";
import { startGatewayShop, type GatewayShop } from "../../test/gateway-harness";
import { composeService, TEST_PASSWORDS } from "../../test/shop";
import { startTestServer, type TestServer } from "../../test/support";
import { createGateway, type Gateway } from "./gateway";

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

let env: GatewayShop;

async function api(
  method: string,
  path: string,
  options: { body?: unknown; raw?: string; headers?: Record<string, string>; base?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const response = await fetch(`${options.base ?? env.baseUrl}${path}`, { method, headers, body });
  const text = await response.text();
  const isJson = response.headers.get("content-type")?.startsWith("application/json");
  return {
    status: response.status,
    body: isJson ? JSON.parse(text) : text,
    headers: response.headers,
  };
}

/** Asserts the JSON error shape and returns its error object. */
function expectError(answer: Answer, httpStatus: number, grpcStatus: string) {
  expect(answer.status).toBe(httpStatus);
  expect(answer.body.error).toMatchObject({ code: httpStatus, status: grpcStatus });
  expect(typeof answer.body.error.message).toBe("string");
  expect(Array.isArray(answer.body.error.details)).toBe(true);
  return answer.body.error as {
    message: string;
    details: { fieldViolations?: { field: string }[] }[];
  };
}

const fieldOf = (answer: Answer): string | undefined =>
  answer.body.error.details[0]?.fieldViolations?.[0]?.field;

let userId: string;
const run = randomUUID().slice(0, 8);

// The dashboard's test reads back traces of requests made after the 5xx sweep's thousands:
// every trace is recorded here, where the default keeps 10 new ones a second (sampler.ts).
const defaultSample = process.env.MESH_TRACE_SAMPLE;

beforeAll(async () => {
  process.env.MESH_TRACE_SAMPLE = "1";
  env = await startGatewayShop();
  for (const [sku, stock] of [
    ["sku-mug", 100],
    ["sku-rare", 1],
  ] as const) {
    await env.shop.inventory.createProduct({
      sku,
      name: sku,
      description: "",
      price: { currencyCode: "USD", units: 5, nanos: 0 },
      initialStock: stock,
    });
  }
  const created = await api("POST", "/api/users", {
    body: { email: `ada-${run}@example.com`, displayName: "Ada" },
  });
  userId = created.body.user.userId;
});

afterAll(async () => {
  await env.stop();
  if (defaultSample === undefined) delete process.env.MESH_TRACE_SAMPLE;
  else process.env.MESH_TRACE_SAMPLE = defaultSample;
});

describe("users", () => {
  test("POST /api/users creates a user (201) that GET /api/users/{id} and the list return", async () => {
    const created = await api("POST", "/api/users", {
      body: { email: `bo-${run}@example.com`, display_name: "Bo" },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/api/users/${created.body.user.userId}`);
    expect(created.body.user).toMatchObject({ email: `bo-${run}@example.com`, displayName: "Bo" });
    const got = await api("GET", `/api/users/${created.body.user.userId}`);
    expect(got.status).toBe(200);
    expect(got.body.user).toEqual(created.body.user);
    const list = await api("GET", "/api/users?pageSize=100");
    expect(list.body.users.map((u: { userId: string }) => u.userId)).toContain(
      created.body.user.userId,
    );
  });

  test("POST /api/login turns a password into a token that reads only that user's orders", async () => {
    const created = await api("POST", "/api/users", {
      body: { email: `cy-${run}@example.com`, displayName: "Cy", password: "cy-password" },
    });
    const login = await api("POST", "/api/login", {
      body: { email: `cy-${run}@example.com`, password: "cy-password" },
    });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ tokenType: "Bearer", userId: created.body.user.userId });
    const bearer = { authorization: `Bearer ${login.body.accessToken}` };
    const placed = await api("POST", "/api/orders", {
      headers: { ...bearer, "idempotency-key": `cy-${run}` },
      body: { userId: created.body.user.userId, items: [{ sku: "sku-mug", quantity: 1 }] },
    });
    expect(placed.status).toBe(201);
    const mine = await api("GET", `/api/orders/${placed.body.order.orderId}`, { headers: bearer });
    expect(mine.body.order.userId).toBe(created.body.user.userId);
    // Another user's order answers as if it did not exist.
    const other = await api("POST", "/api/orders", {
      headers: { "idempotency-key": `other-${run}` },
      body: { userId, items: [{ sku: "sku-mug", quantity: 1 }] },
    });
    const theirs = `/api/orders/${other.body.order.orderId}`;
    expectError(await api("GET", theirs, { headers: bearer }), 404, "NOT_FOUND");
    expectError(
      await api("POST", "/api/login", {
        body: { email: `cy-${run}@example.com`, password: "wrong-password" },
      }),
      401,
      "UNAUTHENTICATED",
    );
  });

  test("failed logins answer alike for a wrong email and a wrong password, then 429 with Retry-After", async () => {
    await api("POST", "/api/users", {
      body: { email: `dee-${run}@example.com`, displayName: "Dee", password: "dee-password" },
    });
    const wrongEmail = await api("POST", "/api/login", {
      body: { email: `nobody-${run}@example.com`, password: "dee-password" },
    });
    const wrongPassword = await api("POST", "/api/login", {
      body: { email: `dee-${run}@example.com`, password: "not-her-password" },
    });
    expect(expectError(wrongEmail, 401, "UNAUTHENTICATED").message).toBe(
      expectError(wrongPassword, 401, "UNAUTHENTICATED").message,
    );
    // users allows 5 failures a minute per account (services/users/login-guard.ts).
    const answers = [];
    for (let i = 0; i < 5; i++) {
      answers.push(
        await api("POST", "/api/login", {
          body: { email: `dee-${run}@example.com`, password: "not-her-password" },
        }),
      );
    }
    const limited = answers.find((a) => a.status === 429)!;
    expectError(limited, 429, "RESOURCE_EXHAUSTED");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Even the right password waits now: the attacker cannot tell it from a wrong one.
    expect(
      (
        await api("POST", "/api/login", {
          body: { email: `dee-${run}@example.com`, password: "dee-password" },
        })
      ).status,
    ).toBe(429);
  });

  test("an unknown user is a 404 NOT_FOUND error body", async () => {
    const error = expectError(
      await api("GET", "/api/users/usr_01J00000000000000000000000"),
      404,
      "NOT_FOUND",
    );
    expect(error.message).toMatch(/usr_01J00000000000000000000000/);
  });

  test("a taken email is a 409 ALREADY_EXISTS", async () => {
    expectError(
      await api("POST", "/api/users", {
        body: { email: `ada-${run}@example.com`, displayName: "Ada 2" },
      }),
      409,
      "ALREADY_EXISTS",
    );
  });

  test("bad JSON, a missing field, a wrong type and an unknown field are 400s naming the field", async () => {
    const badJson = await api("POST", "/api/users", {
      raw: "{nope",
      headers: { "content-type": "application/json" },
    });
    expectError(badJson, 400, "INVALID_ARGUMENT");
    expect(fieldOf(badJson)).toBe("body");
    expect(fieldOf(await api("POST", "/api/users", { body: { displayName: "x" } }))).toBe("email");
    expect(fieldOf(await api("POST", "/api/users", { body: { email: 7, displayName: "X" } }))).toBe(
      "email",
    );
    expect(
      fieldOf(
        await api("POST", "/api/users", { body: { email: "a@b.c", displayName: "X", age: 3 } }),
      ),
    ).toBe("age");
    const badPage = await api("GET", "/api/users?pageSize=many");
    expectError(badPage, 400, "INVALID_ARGUMENT");
    expect(fieldOf(badPage)).toBe("pageSize");
  });

  test("a field the service rejects is a 400 naming it in JSON form", async () => {
    const answer = await api("POST", "/api/users", {
      body: { email: "not-an-email", displayName: "X" },
    });
    expectError(answer, 400, "INVALID_ARGUMENT");
    expect(fieldOf(answer)).toBe("email");
  });
});

describe("products", () => {
  test("GET /api/products lists products and /api/products/{sku} returns one", async () => {
    const list = await api("GET", "/api/products");
    expect(list.status).toBe(200);
    expect(list.body.products.map((p: { sku: string }) => p.sku)).toEqual(
      expect.arrayContaining(["sku-mug", "sku-rare"]),
    );
    const one = await api("GET", "/api/products/sku-mug");
    expect(one.body.product).toMatchObject({
      sku: "sku-mug",
      // proto3 JSON: int64 as a string, as grpcurl shows it too.
      price: { currencyCode: "USD", units: "5" },
    });
  });

  test("an unknown SKU is a 404", async () => {
    expectError(await api("GET", "/api/products/sku-none"), 404, "NOT_FOUND");
  });
});

describe("orders", () => {
  const order = (key: string, body: object) =>
    api("POST", "/api/orders", { body, headers: { "Idempotency-Key": key } });

  test("the same Idempotency-Key twice places one order and answers it both times", async () => {
    const key = `key-${randomUUID()}`;
    const body = { userId, items: [{ sku: "sku-mug", quantity: 2 }] };
    const first = await order(key, body);
    expect(first.status).toBe(201);
    expect(first.headers.get("location")).toBe(`/api/orders/${first.body.order.orderId}`);
    expect(first.body.order).toMatchObject({
      requestId: key,
      userId,
      status: "ORDER_STATUS_CONFIRMED",
    });
    const second = await order(key, body);
    expect(second.body.order.orderId).toBe(first.body.order.orderId);
    const list = await api("GET", `/api/orders?user_id=${userId}&pageSize=100`);
    const ids = list.body.orders.map((o: { requestId: string; orderId: string }) => o.requestId);
    expect(ids.filter((id: string) => id === key)).toHaveLength(1);
    const got = await api("GET", `/api/orders/${first.body.order.orderId}`);
    expect(got.body.order).toEqual(first.body.order);
  });

  test("two users who send the same Idempotency-Key each get an order of their own", async () => {
    const key = `key-${randomUUID()}`;
    const people: { token: string; userId: string }[] = [];
    for (const who of ["dee", "eve"]) {
      const email = `${who}-${run}@example.com`;
      await api("POST", "/api/users", {
        body: { email, displayName: who, password: `${who}-password` },
      });
      // Earlier tests' failed logins came from this address too, and the guard counts them per
      // address (services/users/login-guard.ts): a client that waits as told gets in.
      let login = await api("POST", "/api/login", {
        body: { email, password: `${who}-password` },
      });
      if (login.status === 429) {
        const wait = Number(login.headers.get("retry-after"));
        expect(wait).toBeLessThanOrEqual(60);
        await new Promise((resolve) => setTimeout(resolve, wait * 1_000));
        login = await api("POST", "/api/login", {
          body: { email, password: `${who}-password` },
        });
      }
      expect(login.status).toBe(200);
      people.push({ token: login.body.accessToken, userId: login.body.userId });
    }
    const placeAs = (who: { token: string; userId: string }) =>
      api("POST", "/api/orders", {
        headers: { authorization: `Bearer ${who.token}`, "Idempotency-Key": key },
        body: { userId: who.userId, items: [{ sku: "sku-mug", quantity: 1 }] },
      });

    const [dee, eve] = [await placeAs(people[0]), await placeAs(people[1])];

    expect([dee.status, eve.status]).toEqual([201, 201]);
    expect(eve.body.order.orderId).not.toBe(dee.body.order.orderId);
    expect(eve.body.order.userId).toBe(people[1].userId);
    expect((await placeAs(people[1])).body.order.orderId).toBe(eve.body.order.orderId);
  }, 150_000);

  test("the same Idempotency-Key with a different body is a 409 ALREADY_EXISTS", async () => {
    const key = `key-${randomUUID()}`;
    await order(key, { userId, items: [{ sku: "sku-mug", quantity: 1 }] });
    const conflict = await order(key, { userId, items: [{ sku: "sku-mug", quantity: 3 }] });
    expect(expectError(conflict, 409, "ALREADY_EXISTS").message).toMatch(key);
  });

  test("no Idempotency-Key, an empty item list or a zero quantity is a 400 naming it", async () => {
    const noKey = await api("POST", "/api/orders", {
      body: { userId, items: [{ sku: "sku-mug", quantity: 1 }] },
    });
    expect(fieldOf(noKey)).toBe("idempotency-key");
    expect(fieldOf(await order("k1", { userId, items: [] }))).toBe("items");
    expect(fieldOf(await order("k2", { userId, items: [{ sku: "sku-mug", quantity: 0 }] }))).toBe(
      "items[0].quantity",
    );
  });

  test("an order beyond the stock is a 400 FAILED_PRECONDITION, and an unknown order a 404", async () => {
    const rejected = await order(`key-${randomUUID()}`, {
      userId,
      items: [{ sku: "sku-rare", quantity: 5 }],
    });
    expectError(rejected, 400, "FAILED_PRECONDITION");
    expectError(await api("GET", "/api/orders/ord_01J00000000000000000000000"), 404, "NOT_FOUND");
  });

  test("a placed order becomes a notification at /api/users/{id}/notifications", async () => {
    const placed = await order(`key-${randomUUID()}`, {
      userId,
      items: [{ sku: "sku-mug", quantity: 1 }],
    });
    const orderId = placed.body.order.orderId;
    let found: unknown;
    for (let i = 0; i < 50 && !found; i++) {
      const list = await api("GET", `/api/users/${userId}/notifications?pageSize=100`);
      found = (list.body.notifications ?? []).find(
        (n: { orderId: string }) => n.orderId === orderId,
      );
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toMatchObject({ orderId, userId, kind: "NOTIFICATION_KIND_ORDER_CONFIRMED" });
  });
});

describe("deadlines, unavailability, trace context", () => {
  let slow: TestServer;
  let recording: TestServer;
  const stores: Store[] = [];
  let other: Gateway;
  let otherUrl: string;
  const seen: { traceparent?: string; authorization?: string }[] = [];

  beforeAll(async () => {
    const log = silentLogger();
    const inventory = await composeService("inventory");
    const users = await composeService("users", {
      serviceOptions: { key: env.shop.signingKey, ...TEST_PASSWORDS },
    });
    stores.push(users.store, inventory.store);
    // Inventory whose every call waits 2 s before the handler: a fault, as mesh.yaml would add.
    const faults = createFaultSource("inventory", [
      { service: "inventory", delay: { percentage: 100, duration: 2_000 } },
    ]);
    const server = createMeshServer({ log, faults, shutdownGraceMs: 500 });
    for (const { definition, handlers } of inventory.composed.services) {
      server.addService(definition, handlers);
    }
    const port = await server.listen("127.0.0.1:0");
    server.ready();
    slow = { address: `127.0.0.1:${port}`, server, close: () => server.shutdown() };
    // Users that records the metadata each GetUser arrives with.
    const usersHandlers = users.composed.services.find((s) => s.definition === UserServiceService)
      ?.handlers as unknown as ServiceHandlers<typeof UserServiceService>;
    recording = await startTestServer((s) =>
      s.addService(UserServiceService, {
        ...usersHandlers,
        getUser: (request, context) => {
          seen.push({
            traceparent: context.metadata.get("traceparent")[0] as string,
            authorization: context.metadata.get("authorization")[0] as string,
          });
          return usersHandlers.getUser(request, context);
        },
      }),
    );
    // A dead address: a server started and stopped.
    const dead = await startTestServer(() => undefined);
    await dead.close();
    other = createGateway({
      topology: env.topology,
      log,
      targets: {
        orders: env.addresses.orders,
        users: recording.address,
        inventory: slow.address,
        notifications: dead.address,
      },
    });
    otherUrl = `http://127.0.0.1:${await other.listen(0)}`;
  });

  afterAll(async () => {
    await other.close();
    await Promise.all([slow.close(), recording.close()]);
    await Promise.all(stores.map((s) => s.close()));
  });

  test("Request-Timeout becomes the deadline: a call slower than it is a 504 DEADLINE_EXCEEDED", async () => {
    const started = Date.now();
    const answer = await api("GET", "/api/products", {
      base: otherUrl,
      headers: { "Request-Timeout": "200ms" },
    });
    expectError(answer, 504, "DEADLINE_EXCEEDED");
    console.log(`504 after ${Date.now() - started} ms for a 200 ms budget`);
    expectError(
      await api("GET", "/api/products", { base: otherUrl, headers: { "grpc-timeout": "150m" } }),
      504,
      "DEADLINE_EXCEEDED",
    );
    const bad = await api("GET", "/api/products", {
      base: otherUrl,
      headers: { "X-Request-Timeout": "soon" },
    });
    expect(fieldOf(bad)).toBe("x-request-timeout");
  });

  test("a service that is down is a 503 UNAVAILABLE naming the service and the trace, never its address", async () => {
    const answer = await api("GET", `/api/users/${userId}/notifications`, { base: otherUrl });
    const error = expectError(answer, 503, "UNAVAILABLE");
    const traceId = answer.headers.get("traceresponse")!.split("-")[1];
    expect(error.message).toBe(`notifications is unavailable (trace id ${traceId})`);
    expect(JSON.stringify(answer.body)).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|remote_addr/);
    expect(answer.body.error.details).toContainEqual({
      "@type": "type.googleapis.com/google.rpc.RequestInfo",
      requestId: traceId,
    });
  });

  test("traceparent and authorization reach the service as gRPC metadata, on the same trace", async () => {
    const traceId = randomUUID().replace(/-/g, "");
    seen.length = 0;
    const answer = await api("GET", "/api/users/usr_01J00000000000000000000000", {
      base: otherUrl,
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, authorization: "Bearer t0ken" },
    });
    expect(answer.status).toBe(404);
    expect(answer.headers.get("traceresponse")).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
    );
    const spans = other.telemetry.tracing.buffer.query(0).filter((s) => s.traceId === traceId);
    const server = spans.find((s) => s.kind === "server")!;
    const client = spans.find((s) => s.kind === "client")!;
    expect(server).toMatchObject({
      parentSpanId: "00f067aa0ba902b7",
      name: "GET /api/users/{user_id}",
      status: "NOT_FOUND",
      attributes: expect.objectContaining({
        "http.request.method": "GET",
        "http.route": "/api/users/{user_id}",
        "http.response.status_code": 404,
      }) as object,
    });
    expect(client).toMatchObject({
      parentSpanId: server.spanId,
      name: "shop.users.v1.UserService/GetUser",
      attributes: expect.objectContaining({
        "rpc.system": "grpc",
        "rpc.service": "shop.users.v1.UserService",
        "rpc.method": "GetUser",
        "rpc.grpc.status_code": 5,
      }) as object,
    });
    expect(seen).toEqual([
      { traceparent: `00-${traceId}-${client.spanId}-01`, authorization: "Bearer t0ken" },
    ]);
  });
});

describe("gateway telemetry", () => {
  test("GET /metrics counts the gateway's calls per peer and method, and its requests per route and status", async () => {
    await api("GET", "/api/products/sku-none");
    const text = (await api("GET", "/metrics")).body as string;
    const line = (name: string, labels: Record<string, string>) =>
      text
        .split("\n")
        .find(
          (l) =>
            l.startsWith(`${name}{`) &&
            Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)),
        );
    expect(
      line("grpc_client_handled_total", {
        peer: "inventory",
        grpc_method: "GetProduct",
        grpc_code: "NOT_FOUND",
        service: "gateway",
      }),
    ).toMatch(/ [1-9]\d*$/);
    expect(
      line("http_server_request_duration_seconds_count", {
        http_request_method: "GET",
        http_route: "/api/products/{sku}",
        http_response_status_code: "404",
      }),
    ).toMatch(/ [1-9]\d*$/);
  });
});

describe("the admin listener", () => {
  const operator = () => ({ authorization: `Bearer ${env.adminSecret}` });
  const admin = (
    method: string,
    path: string,
    options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ) => api(method, path, { ...options, base: env.adminUrl });

  test("the public API serves no admin route: faults, dashboard state and traces are not there", async () => {
    expectError(await api("GET", "/api/dashboard/state"), 404, "NOT_FOUND");
    expectError(await api("GET", "/traces"), 404, "NOT_FOUND");
    expectError(
      await api("POST", "/api/faults", { body: { service: "payments" } }),
      404,
      "NOT_FOUND",
    );
  });

  test("a fault injection without the operator's secret, or with a wrong one, is refused (401)", async () => {
    const fault = { service: "payments", abort: { percentage: 100, code: "UNAVAILABLE" } };
    expectError(await admin("POST", "/api/faults", { body: fault }), 401, "UNAUTHENTICATED");
    expectError(
      await admin("POST", "/api/faults", {
        body: fault,
        headers: { authorization: "Bearer nope" },
      }),
      401,
      "UNAUTHENTICATED",
    );
    expect((await admin("GET", "/api/faults", { headers: operator() })).body.overrides).toEqual([]);
  });

  test("a cross-site fault injection is refused: another Origin (403), a form's text/plain body (415)", async () => {
    const fault = { service: "payments", abort: { percentage: 100, code: "UNAVAILABLE" } };
    expectError(
      await admin("POST", "/api/faults", {
        body: fault,
        headers: { ...operator(), origin: "http://evil.example" },
      }),
      403,
      "PERMISSION_DENIED",
    );
    const simple = await admin("POST", "/api/faults", {
      raw: JSON.stringify(fault),
      headers: { ...operator(), "content-type": "text/plain" },
    });
    expect(simple.status).toBe(415);
    expect((await admin("GET", "/api/faults", { headers: operator() })).body.overrides).toEqual([]);
  });

  test("GET /api/dashboard/state lists every member with health, and the gateway's edges", async () => {
    await api("GET", "/api/products");
    // The request's span ends once its answer is sent, so the poll may have to come again.
    let state = (await admin("GET", "/api/dashboard/state", { headers: operator() })).body;
    const rooted = (st: typeof state) =>
      st.traces.some((t: { spans: { service: string; name: string }[] }) =>
        t.spans.some((sp) => sp.service === "gateway" && sp.name === "GET /api/products"),
      );
    for (let i = 0; i < 20 && !rooted(state); i++) {
      await new Promise((r) => setTimeout(r, 250));
      state = (await admin("GET", "/api/dashboard/state", { headers: operator() })).body;
    }
    const names = state.services.map((s: { name: string }) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        "gateway",
        "users",
        "inventory",
        "payments",
        "orders",
        "notifications",
      ]),
    );
    const members = state.services.flatMap((s: { members: object[] }) => s.members);
    expect(members).toContainEqual(
      expect.objectContaining({
        member: "orders-1",
        address: env.addresses.orders,
        health: "SERVING",
        metrics: false,
      }),
    );
    const edge = state.edges.find(
      (e: { from: string; to: string }) => e.from === "gateway" && e.to === "inventory",
    );
    expect(edge.total).toBeGreaterThan(0);
    expect(state.peers).toContainEqual({
      from: "gateway",
      to: "orders",
      breaker: "closed",
      ejections: 0,
    });
    expect(state.traces.length).toBeGreaterThan(0);
    // A trace is rooted at the gateway's server span (it ends once the answer is sent).
    const roots = state.traces.map((t: { spans: object[] }) => t.spans[0]);
    expect(roots).toContainEqual(
      expect.objectContaining({ service: "gateway", kind: "server", name: "GET /api/products" }),
    );
  });

  test("an operator's fault reaches a service watching the override file, and is removed", async () => {
    const file = faultsOverrideFile(env.topology);
    const source = watchFaults(env.topology.file, "payments", silentLogger(), {
      overrideFile: file,
      intervalMs: 20,
    });
    try {
      const bad = await admin("POST", "/api/faults", {
        body: { service: "payments", abort: { percentage: 20, code: "NOPE" } },
        headers: operator(),
      });
      expectError(bad, 400, "INVALID_ARGUMENT");
      expect(bad.body.error.message).toMatch(/faults\.0\.abort\.code/);
      const fault = {
        service: "payments",
        method: "shop.payments.v1.PaymentService/Charge",
        abort: { percentage: 20, code: "UNAVAILABLE" },
      };
      const added = await admin("POST", "/api/faults", { body: fault, headers: operator() });
      expect(added.status).toBe(201);
      expect(added.body.faults).toEqual([fault]);
      await waitFor(() => source.faults.length === 1);
      expect(source.faults[0]).toMatchObject(fault);
      expect((await admin("GET", "/api/faults", { headers: operator() })).body.overrides).toEqual([
        fault,
      ]);
      const removed = await admin("DELETE", "/api/faults/0", { headers: operator() });
      expect(removed.body.faults).toEqual([]);
      await waitFor(() => source.faults.length === 0);
      expectError(
        await admin("DELETE", "/api/faults/0", { headers: operator() }),
        404,
        "NOT_FOUND",
      );
    } finally {
      source.stop();
    }
  });

  test("the operator's traces are the gateway's spans; the dashboard page and Chart.js are served", async () => {
    expectError(await admin("GET", "/traces"), 401, "UNAUTHENTICATED");
    const traces = await admin("GET", "/traces?limit=5", { headers: operator() });
    expect(traces.body.spans.length).toBeGreaterThan(0);
    expect(traces.body.spans.length).toBeLessThanOrEqual(5);
    const page = await admin("GET", "/");
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<script src="\/vendor\/chart.umd.js"><\/script>/);
    expect((await admin("GET", "/vendor/chart.umd.js")).body).toMatch(/Chart/);
  });
});

describe("HTTP itself", () => {
  const order = (headers: Record<string, string>, raw: string) =>
    api("POST", "/api/orders", {
      raw,
      headers: {
        "content-type": "application/json",
        "idempotency-key": `k-${randomUUID()}`,
        ...headers,
      },
    });

  test("a wrong method is a 405 with Allow; HEAD answers wherever GET does; an unknown path is a 404", async () => {
    const wrong = await api("DELETE", "/api/orders");
    expectError(wrong, 405, "UNIMPLEMENTED");
    expect(wrong.headers.get("allow")?.split(", ").sort()).toEqual(["GET", "HEAD", "POST"]);
    const head = await fetch(`${env.baseUrl}/api/products`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toMatch(/^application\/json/);
    expectError(await api("GET", "/api/nothing"), 404, "NOT_FOUND");
  });

  test("a body over the limit is a 413, a text/plain body a 415, a 20,000-deep JSON body a 400", async () => {
    const big = await order({}, JSON.stringify({ userId, paymentMethod: "x".repeat(100_000) }));
    expectError(big, 413, "INVALID_ARGUMENT");
    expect(fieldOf(big)).toBe("body");
    const text = await order({ "content-type": "text/plain" }, "{}");
    expectError(text, 415, "INVALID_ARGUMENT");
    expect(fieldOf(text)).toBe("content-type");
    const deep = await order({}, `${"[".repeat(20_000)}${"]".repeat(20_000)}`);
    expectError(deep, 400, "INVALID_ARGUMENT");
    expect(fieldOf(deep)).toBe("body");
  });

  test("a quantity above 2^31-1 is a 400 naming the field, as a number and as a string", async () => {
    for (const quantity of [2 ** 31, "2147483648", 1e300, -1]) {
      const answer = await order(
        {},
        JSON.stringify({ userId, items: [{ sku: "sku-mug", quantity }] }),
      );
      expectError(answer, 400, "INVALID_ARGUMENT");
      expect(fieldOf(answer)).toBe("items[0].quantity");
    }
  });

  test("an Idempotency-Key longer than the contract's 128 characters is a 400 naming the header", async () => {
    const answer = await order(
      { "idempotency-key": "k".repeat(129) },
      JSON.stringify({ userId, items: [{ sku: "sku-mug", quantity: 1 }] }),
    );
    expect(fieldOf(answer)).toBe("idempotency-key");
  });

  test("no client input answers a 5xx: malformed bodies, values and paths on every route", async () => {
    const bodies = [
      "",
      "null",
      "[]",
      '"x"',
      "{",
      '{"items":{}}',
      '{"items":[null]}',
      '{"items":[{"quantity":{}}]}',
      '{"userId":{"a":1}}',
      '{"__proto__":{"x":1}}',
      `{"email":"${"\\u0000".repeat(10)}"}`,
      '{"pageSize":1e999}',
    ];
    const seen = new Set<number>();
    for (const method of env.gateway.methods) {
      for (const [raw, path] of bodies.flatMap((body) =>
        ["x", "%E0%A4%A", "-1"].flatMap((v) =>
          ["", "?pageSize=-1", "?page_token=%%", "?pageSize=1&pageSize=2"].map((query) => [
            body,
            method.template.replace(/\{[^}]+\}/g, v) + query,
          ]),
        ),
      )) {
        const answer = await api(method.httpMethod, path, {
          raw: method.httpMethod === "GET" ? undefined : raw,
          headers: { "content-type": "application/json", "idempotency-key": "k" },
        });
        seen.add(answer.status);
        // A 503/504 would say a service did not answer in time (a loaded machine), not that the
        // input broke anything; print it, so that a failure below shows which.
        if (answer.status >= 500)
          console.log(method.template, path, raw, JSON.stringify(answer.body));
        expect({
          route: `${method.httpMethod} ${method.template}`,
          raw,
          status: answer.status,
        }).toEqual(expect.objectContaining({ status: expect.any(Number) as number }));
        expect(answer.status).toBeLessThan(500);
      }
    }
    console.log(`statuses seen: ${[...seen].sort().join(", ")}`);
  });
});

describe("the OpenAPI document", () => {
  test("has every REST method of the contracts, with its comment, error schema and bound header", async () => {
    const doc = (await api("GET", "/openapi.json")).body;
    expect(doc.openapi).toBe("3.1.0");
    for (const method of env.gateway.methods) {
      const operation = doc.paths[method.template]?.[method.httpMethod.toLowerCase()];
      expect({
        route: `${method.httpMethod} ${method.template}`,
        found: operation?.operationId,
      }).toEqual({
        route: `${method.httpMethod} ${method.template}`,
        found: method.method.name.charAt(0).toLowerCase() + method.method.name.slice(1),
      });
      expect(operation.responses["503"].content["application/json"].schema).toEqual({
        $ref: "#/components/schemas/Error",
      });
    }
    const placeOrder = doc.paths["/api/orders"].post;
    expect(placeOrder.summary).toBe(
      "Places an order: checks the user, reserves the stock, charges the total.",
    );
    expect(placeOrder.parameters).toContainEqual(
      expect.objectContaining({
        name: "idempotency-key",
        in: "header",
        required: true,
        schema: { type: "string", minLength: 1, maxLength: 128 },
      }),
    );
    expect(placeOrder.responses["201"].headers.Location).toBeDefined();
    expect(doc.components.schemas["shop.common.v1.Money"].properties.units).toMatchObject({
      type: "string",
      format: "int64",
    });
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const giveUp = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > giveUp) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
