import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { projectRoot } from "../../mesh/config";
import { freePorts } from "../../scripts/ports";
import { seedLoadData, startScratchMesh, type ScratchMesh } from "../../scripts/scratch-mesh";

/** A span as OTLP/JSON carries it (opentelemetry-proto, trace/v1), with its resource's name. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  service: string;
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
}
interface OtlpExport {
  resourceSpans: {
    resource: { attributes: { key: string; value: OtlpValue }[] };
    scopeSpans: {
      spans: (Omit<ReceivedSpan, "service" | "resource" | "attributes"> & {
        attributes?: { key: string; value: OtlpValue }[];
      })[];
    }[];
  }[];
}

const valueOf = (v: OtlpValue): unknown => v.stringValue ?? v.intValue ?? v.boolValue;
const attributesOf = (list: { key: string; value: OtlpValue }[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/**
 * A real OTLP/HTTP receiver: what the OpenTelemetry exporter of each process sends to
 * `POST /v1/traces` over HTTP, decoded (OTLP/JSON, the exporter's encoding).
 */
async function startReceiver(): Promise<{
  server: Server;
  url: string;
  spans: ReceivedSpan[];
  contentTypes: Set<string>;
}> {
  const spans: ReceivedSpan[] = [];
  const contentTypes = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      contentTypes.add(String(req.headers["content-type"]));
      if (req.method === "POST" && req.url === "/v1/traces") {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as OtlpExport;
        for (const { resource, scopeSpans } of body.resourceSpans) {
          const resourceAttributes = attributesOf(resource.attributes);
          for (const { spans: list } of scopeSpans) {
            for (const span of list) {
              spans.push({
                ...span,
                service: String(resourceAttributes["service.name"]),
                resource: resourceAttributes,
                attributes: attributesOf(span.attributes),
              });
            }
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    contentTypes,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// The mesh as start:all runs it (a process per service, mTLS), every process exporting its
// spans over OTLP/HTTP to one receiver by OTel's own environment variables, and the gateway.
describe("one trace per PlaceOrder in a tracing backend", () => {
  jest.setTimeout(120_000);
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let mesh: ScratchMesh;
  let gateway: ChildProcess | undefined;
  let baseUrl: string;
  const lines: string[] = [];
  const saved = { ...process.env };

  beforeAll(async () => {
    receiver = await startReceiver();
    // Inherited by every member; the gateway's telemetry reads them too.
    Object.assign(process.env, {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=otlp-test",
      OTEL_BSP_SCHEDULE_DELAY: "200",
    });
    mesh = await startScratchMesh({
      services: ["users", "inventory", "payments", "orders", "notifications"],
      instances: { inventory: 1, payments: 1 },
      log: (line) => lines.push(line),
    });
    // The gateway as start:all runs it: its own process, compiled, with the mesh's topology.
    const [port, adminPort] = await freePorts(2);
    gateway = spawn(
      process.execPath,
      [join(projectRoot(), "dist", "services", "gateway", "main.js")],
      {
        env: {
          ...process.env,
          MESH_TOPOLOGY: mesh.topology.file,
          MESH_DATA_DIR: mesh.dir,
          GATEWAY_PORT: String(port),
          GATEWAY_ADMIN_PORT: String(adminPort),
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    gateway.stdout?.on("data", (chunk: Buffer) => lines.push(...chunk.toString().split("\n")));
    baseUrl = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      const ok = await fetch(`${baseUrl}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (gateway.exitCode !== null || i > 300) throw new Error("the gateway did not start");
      await sleep(100);
    }
  }, 120_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((resolve) => gateway!.once("exit", resolve));
      gateway.kill("SIGTERM");
      await exited;
    }
    await mesh?.stop();
    receiver?.server.close();
    process.env = saved;
  });

  test("the gateway's root span has the four services' spans under it, all exported over OTLP", async () => {
    const [sku] = (await seedLoadData(mesh.topology, "otlp", 0, 1, mesh.identity)).skus;
    const json = { "content-type": "application/json" };
    await fetch(`${baseUrl}/api/users`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({
        email: "otlp@example.com",
        displayName: "O",
        password: "otlp-password",
      }),
    });
    const login = (await (
      await fetch(`${baseUrl}/api/login`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ email: "otlp@example.com", password: "otlp-password" }),
      })
    ).json()) as { accessToken: string; userId: string };
    const placed = await fetch(`${baseUrl}/api/orders`, {
      method: "POST",
      headers: {
        ...json,
        authorization: `Bearer ${login.accessToken}`,
        "idempotency-key": "otlp-1",
      },
      body: JSON.stringify({ userId: login.userId, items: [{ sku, quantity: 1 }] }),
    });
    expect(placed.status).toBe(201);
    const traceId = placed.headers.get("traceresponse")!.split("-")[1];

    const wanted = ["gateway", "orders", "users", "inventory", "payments"];
    const trace = () => receiver.spans.filter((s) => s.traceId === traceId);
    for (let i = 0; i < 100 && !wanted.every((w) => trace().some((s) => s.service === w)); i++) {
      await sleep(100);
    }
    const spans = trace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const roots = spans.filter((s) => !s.parentSpanId);
    console.log(
      `trace ${traceId}: ${spans.length} spans\n${spans.map((s) => `  ${s.service} ${s.name}`).join("\n")}`,
    );

    expect([...receiver.contentTypes]).toEqual(["application/json"]);
    expect(roots.map((s) => [s.service, s.name])).toEqual([["gateway", "POST /api/orders"]]);
    expect(roots[0].attributes).toMatchObject({
      "http.request.method": "POST",
      "http.route": "/api/orders",
      "http.response.status_code": 201,
    });
    // Every other span hangs off another span of this trace: one tree, rooted at the gateway.
    for (const span of spans) if (span.parentSpanId) expect(byId.has(span.parentSpanId)).toBe(true);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(wanted));
    const server = (name: string) => spans.find((s) => s.name === name && s.kind === 2);
    for (const method of [
      "shop.orders.v1.OrderService/PlaceOrder",
      "shop.users.v1.UserService/GetUser",
      "shop.inventory.v1.InventoryService/ReserveStock",
      "shop.payments.v1.PaymentService/Charge",
    ]) {
      expect(server(method)?.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.grpc.status_code": 0,
      });
    }
    // OTEL_RESOURCE_ATTRIBUTES reached every process.
    for (const span of spans) expect(span.resource["deployment.environment"]).toBe("otlp-test");
    // The order's log line, written inside the call, carries the trace.
    expect(lines.some((l) => l.includes("order confirmed") && l.includes(traceId))).toBe(true);
  });
});
