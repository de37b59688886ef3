import { readFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { silentLogger, type Topology } from "../../mesh";
import { certificateFiles } from "../../mesh/identity";
import { describeWithOpenssl, testPki } from "../../test/pki";
import { topologyAt } from "../../test/gateway-harness";
import { createGateway, type Gateway } from "./gateway";

/** One HTTPS request to the admin listener as `party` (a certificate of the mesh), or none. */
function call(
  port: number,
  topology: Topology,
  party: { kind: "service" | "operator"; name: string } | undefined,
  init: { method?: string; path: string; body?: string; headers?: Record<string, string> },
): Promise<{ status: number; body: string }> {
  const files = certificateFiles(
    topology.security.pkiDir,
    party ?? { kind: "operator", name: "admin" },
  );
  const options: RequestOptions = {
    host: "127.0.0.1",
    port,
    method: init.method ?? "GET",
    path: init.path,
    ca: readFileSync(files.ca),
    // The gateway's certificate names it by SPIFFE id, not by host name.
    checkServerIdentity: () => undefined,
    headers: init.headers,
    ...(party ? { cert: readFileSync(files.cert), key: readFileSync(files.key) } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

// The admin listener as start:all runs it with mTLS: HTTPS, and only an operator's
// certificate of the mesh CA may use the operators' API.
describeWithOpenssl("the admin listener with mTLS", () => {
  let gateway: Gateway;
  let topology: Topology;
  let port: number;
  const fault = JSON.stringify({
    service: "payments",
    abort: { percentage: 100, code: "UNAVAILABLE" },
  });
  const json = { "content-type": "application/json" };

  beforeAll(async () => {
    const security = testPki();
    const plain = topologyAt({}, security.pkiDir);
    topology = { ...plain, security };
    gateway = createGateway({ topology, log: silentLogger() });
    port = await gateway.listenAdmin(0);
  });
  afterAll(() => gateway?.close());

  test("the operator's certificate may add a fault; a service's certificate may not", async () => {
    const operator = { kind: "operator" as const, name: "admin" };
    const added = await call(port, topology, operator, {
      method: "POST",
      path: "/api/faults",
      body: fault,
      headers: json,
    });
    expect(added.status).toBe(201);
    const removed = await call(port, topology, operator, {
      method: "DELETE",
      path: "/api/faults/0",
    });
    expect(removed.status).toBe(200);

    const service = await call(
      port,
      topology,
      { kind: "service", name: "orders" },
      {
        method: "POST",
        path: "/api/faults",
        body: fault,
        headers: json,
      },
    );
    expect(service.status).toBe(403);
    expect(service.body).toMatch(/spiffe:\/\/shop\.local\/service\/orders is not an operator/);
  });

  test("without a client certificate the TLS handshake itself fails", async () => {
    await expect(
      call(port, topology, undefined, {
        method: "POST",
        path: "/api/faults",
        body: fault,
        headers: json,
      }),
    ).rejects.toThrow();
  });

  test("the operator's own browser is refused a request another site makes (Origin)", async () => {
    const crossSite = await call(
      port,
      topology,
      { kind: "operator", name: "admin" },
      {
        method: "POST",
        path: "/api/faults",
        body: fault,
        headers: { ...json, origin: "https://evil.example" },
      },
    );
    expect(crossSite.status).toBe(403);
  });
});
