import { readFileSync, rmSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import {
  Client,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ChannelOptions,
  type ServiceError,
} from "@grpc/grpc-js";
import { parse as parseYaml } from "yaml";
import { createMeshServer, silentLogger, type MeshServer } from "../../mesh";
import {
  loadDescriptors,
  projectRoot,
  type LimitsConfig,
  type SecurityConfig,
} from "../../mesh/config";
import {
  ANONYMOUS,
  certificateFiles,
  createMeshIdentity,
  ensurePki,
  spiffeId,
  type Party,
} from "../../mesh/identity";
import { createAccessControl } from "../../mesh/server";
import type { ServerSurfaceCall } from "../../mesh/api";
import { sessionOf } from "../../mesh/internals";
import { describeWithOpenssl, testPki } from "../pki";
import { shopServiceDefinitions } from "../contracts";

// Every service of the contracts, as codegen made them.
const SERVICES = shopServiceDefinitions();
const identity = (x: unknown): Buffer => x as Buffer;

/** The callers each handler saw, by method path. */
type Seen = Map<string, string[]>;

/**
 * A server with every shop service whose handlers record the caller the context reports and
 * answer an empty response (empty streams): what these tests look at is who gets through.
 */
async function startServer(
  security: SecurityConfig,
  as: string,
  limits?: LimitsConfig,
): Promise<{ server: MeshServer; address: string; seen: Seen; sessionless: string[] }> {
  const log = silentLogger();
  const party: Party = { kind: "service", name: as };
  const identity = createMeshIdentity(security, party);
  const server = createMeshServer({
    log,
    credentials: identity.serverCredentials(),
    access: createAccessControl({ security, limits, log }),
    shutdownGraceMs: 500,
  });
  const seen: Seen = new Map();
  // Calls whose HTTP/2 session callerOf could not find, so that it read the certificate anew.
  const sessionless: string[] = [];
  for (const definition of Object.values(SERVICES)) {
    const handlers: Record<string, unknown> = {};
    for (const [key, method] of Object.entries(definition)) {
      const record = (ctx: { caller: string; call: ServerSurfaceCall }) => {
        if (!sessionOf(ctx.call)) sessionless.push(method.path);
        remember(ctx.caller);
      };
      const remember = (caller: string) =>
        seen.set(method.path, [...(seen.get(method.path) ?? []), caller]);
      handlers[key] = method.responseStream
        ? async function* (_: unknown, ctx: { caller: string; call: ServerSurfaceCall }) {
            record(ctx);
            yield* [];
          }
        : async (_: unknown, ctx: { caller: string; call: ServerSurfaceCall }) => {
            record(ctx);
            return method.responseDeserialize(Buffer.alloc(0)) as unknown;
          };
    }
    server.addService(definition, handlers as never);
  }
  // As serve() does: a server listening before its certificate files are read drops every
  // connection, and the callers' channels back off.
  await identity.certificatesLoaded();
  const port = await server.listen("127.0.0.1:0");
  server.ready();
  return { server, address: `127.0.0.1:${port}`, seen, sessionless };
}

/** The outcome of one call with an empty request: "OK", a status name, or data arriving. */
function callOnce(
  client: Client,
  path: string,
  kind: { requestStream: boolean; responseStream: boolean },
): Promise<{ code: number; details: string; metadata?: Metadata }> {
  const deadline = Date.now() + 5_000;
  const empty = Buffer.alloc(0);
  return new Promise((resolve) => {
    const done = (err: ServiceError | null) =>
      resolve(
        err
          ? { code: err.code, details: err.details, metadata: err.metadata }
          : { code: 0, details: "" },
      );
    if (!kind.responseStream) {
      client.makeUnaryRequest(
        path,
        identity,
        identity,
        empty,
        new Metadata(),
        { deadline },
        (err) => done(err),
      );
      return;
    }
    const call = kind.requestStream
      ? client.makeBidiStreamRequest(path, identity, identity, new Metadata(), { deadline })
      : client.makeServerStreamRequest(path, identity, identity, empty, new Metadata(), {
          deadline,
        });
    if (kind.requestStream) {
      (call as unknown as { write(b: Buffer): void }).write(empty);
      (call as unknown as { end(): void }).end();
    }
    // A stream that sends anything got through; Health.Watch never ends by itself.
    call.on("data", () => {
      call.cancel();
      resolve({ code: 0, details: "data" });
    });
    call.on("error", (err: ServiceError) => done(err));
    call.on("status", (s: { code: number }) => s.code === 0 && done(null));
  });
}

/** Every method a mesh server serves: the shop's, health and reflection, from proto/. */
function allMethods(): { path: string; requestStream: boolean; responseStream: boolean }[] {
  const descriptors = loadDescriptors();
  const services = [
    ...Object.values(SERVICES).map((d) => Object.values(d)[0].path.split("/")[1]),
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
  ];
  return services.flatMap((service) =>
    descriptors.methods(service).map((m) => ({
      path: `/${service}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
    })),
  );
}

/**
 * What mesh.yaml says, read here from the file on its own terms (not through access.ts):
 * operators may call anything; a service may call a method when `security.allow` lists it
 * (or "*") for the method or its service.
 */
function policyAllows(party: Party, path: string): boolean {
  const doc = parseYaml(readFileSync(`${projectRoot()}/mesh.yaml`, "utf8")) as {
    security: { operators: string[]; allow: Record<string, string[]> };
  };
  if (party.kind === "operator") return doc.security.operators.includes(party.name);
  const [, service] = path.split("/");
  const rules = [
    ...(doc.security.allow[service] ?? []),
    ...(doc.security.allow[path.slice(1)] ?? []),
  ];
  return rules.includes("*") || rules.includes(party.name);
}

const clientFor = (
  address: string,
  dial: { credentials: ChannelCredentials; channelOptions?: ChannelOptions },
): Client => new Client(address, dial.credentials, dial.channelOptions);

describeWithOpenssl("mTLS and default-deny authorization", () => {
  // "stranger" holds a certificate from the mesh CA but appears in no rule.
  const security = testPki({}, ["stranger"]);
  let server: Awaited<ReturnType<typeof startServer>>;
  const clients: Client[] = [];
  const open = (...args: Parameters<typeof clientFor>): Client => {
    const client = clientFor(...args);
    clients.push(client);
    return client;
  };

  beforeAll(async () => (server = await startServer(security, "users")));
  afterAll(async () => {
    for (const client of clients) client.close();
    await server.server.shutdown();
    rmSync(security.pkiDir, { recursive: true, force: true });
  });

  const parties: Party[] = [
    ...security.serviceNames.map((name): Party => ({ kind: "service", name })),
    ...security.operators.map((name): Party => ({ kind: "operator", name })),
  ];

  it("answers PERMISSION_DENIED to every (caller, method) pair the policy forbids, and lets every allowed pair through to the handler, which sees the caller", async () => {
    const methods = allMethods();
    expect(methods.length).toBeGreaterThanOrEqual(24);
    let denied = 0;
    let allowed = 0;
    for (const party of parties) {
      const client = open(server.address, createMeshIdentity(security, party).dialOptions("users"));
      for (const method of methods) {
        const result = await callOnce(client, method.path, method);
        const who = `${spiffeId(security.trustDomain, party)} → ${method.path}`;
        if (policyAllows(party, method.path)) {
          allowed++;
          expect([who, result.code]).not.toEqual([who, status.PERMISSION_DENIED]);
          expect([who, result.code]).not.toEqual([who, status.UNAVAILABLE]);
        } else {
          denied++;
          expect([who, result.code, result.details]).toEqual([
            who,
            status.PERMISSION_DENIED,
            `${spiffeId(security.trustDomain, party)} may not call ${method.path} (security.allow)`,
          ]);
        }
      }
    }
    // Every shop handler that ran saw exactly the callers the policy allows, by SPIFFE id.
    for (const method of methods.filter((m) => m.path.startsWith("/shop."))) {
      const expected = parties
        .filter((p) => policyAllows(p, method.path))
        .map((p) => spiffeId(security.trustDomain, p));
      expect([method.path, server.seen.get(method.path) ?? []]).toEqual([method.path, expected]);
    }
    // The caller's id was read once per connection, not once per call (see callerOf).
    expect(server.sessionless).toEqual([]);
    console.log(
      `authorization matrix: ${allowed} allowed and ${denied} denied (caller, method) pairs`,
    );
    expect(denied).toBeGreaterThan(100);
  });

  it("lets orders charge payments and notifications read the event stream, and nobody else", () => {
    const access = createAccessControl({ security, log: silentLogger() });
    const id = (name: string) => spiffeId(security.trustDomain, { kind: "service", name });
    const admin = spiffeId(security.trustDomain, { kind: "operator", name: "admin" });
    expect([...access.allowedCallers("/shop.payments.v1.PaymentService/Charge")]).toEqual([
      admin,
      id("orders"),
    ]);
    expect([...access.allowedCallers("/shop.orders.v1.OrderService/StreamEvents")]).toEqual([
      admin,
      id("notifications"),
    ]);
    expect([
      ...access.allowedCallers("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
    ]).toEqual([admin]);
  });

  it("rejects a plaintext client, a client without a certificate, and one whose certificate is from another CA", async () => {
    const other = testPki(); // the same names and trust domain, another CA
    const ca = readFileSync(certificateFiles(security.pkiDir, parties[0]).ca);
    const otherFiles = certificateFiles(other.pkiDir, { kind: "service", name: "orders" });
    try {
      const attempts = {
        plaintext: open(server.address, { credentials: credentials.createInsecure() }),
        "no client certificate": open(server.address, {
          credentials: credentials.createSsl(ca, null, null, {
            checkServerIdentity: () => undefined,
          }),
        }),
        "another CA": open(server.address, {
          credentials: credentials.createSsl(
            ca,
            readFileSync(otherFiles.key),
            readFileSync(otherFiles.cert),
            {
              checkServerIdentity: () => undefined,
            },
          ),
        }),
      };
      for (const [what, client] of Object.entries(attempts)) {
        const result = await callOnce(client, "/grpc.health.v1.Health/Check", {
          requestStream: false,
          responseStream: false,
        });
        expect([what, status[result.code]]).toEqual([what, "UNAVAILABLE"]);
      }
    } finally {
      rmSync(other.pkiDir, { recursive: true, force: true });
    }
  });

  it("refuses to talk to a server whose SPIFFE id is not the service the client meant to call", async () => {
    const operator = createMeshIdentity(security, { kind: "operator", name: "admin" });
    const client = open(server.address, operator.dialOptions("payments"));
    const result = await callOnce(client, "/grpc.health.v1.Health/Check", {
      requestStream: false,
      responseStream: false,
    });
    expect(status[result.code]).toBe("UNAVAILABLE");
    expect(result.details).toContain("expected spiffe://shop.local/service/payments");
  });

  it("serves a rotated certificate on new connections without a restart", async () => {
    const rotating: SecurityConfig = { ...security, certificateRefresh: 100 };
    const rotated = await startServer(rotating, "inventory");
    const files = certificateFiles(security.pkiDir, { kind: "service", name: "inventory" });
    const operator = certificateFiles(security.pkiDir, { kind: "operator", name: "admin" });
    const servedSerial = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({
          host: "127.0.0.1",
          port: Number(rotated.address.split(":")[1]),
          ca: readFileSync(files.ca),
          cert: readFileSync(operator.cert),
          key: readFileSync(operator.key),
          servername: "inventory",
          ALPNProtocols: ["h2"],
          checkServerIdentity: () => undefined,
        });
        socket.once("secureConnect", () => {
          resolve(socket.getPeerCertificate().serialNumber);
          socket.end();
        });
        socket.once("error", reject);
      });
    try {
      // The first read of the files is asynchronous; wait until the server has them.
      let before = "";
      for (let i = 0; i < 50 && !before; i++) before = await servedSerial().catch(() => "");
      expect(before).not.toBe("");
      rmSync(files.cert);
      ensurePki({ security, hosts: ["127.0.0.1"] });
      const onDisk = readFileSync(files.cert);
      expect(onDisk.length).toBeGreaterThan(0);
      const started = Date.now();
      let after = before;
      while (after === before && Date.now() - started < 5_000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The files are replaced by rename; a read between two renames is retried.
        after = await servedSerial().catch(() => before);
      }
      console.log(`rotated certificate served ${Date.now() - started} ms after it was written`);
      expect(after).not.toBe(before);
      // And the mesh's own clients still get through to it.
      const client = open(
        rotated.address,
        createMeshIdentity(security, { kind: "service", name: "orders" }).dialOptions("inventory"),
      );
      const result = await callOnce(client, "/shop.inventory.v1.InventoryService/ReserveStock", {
        requestStream: false,
        responseStream: false,
      });
      expect(result.code).toBe(status.OK);
    } finally {
      await rotated.server.shutdown();
    }
  });

  it("answers the first call of a server that listened as soon as its certificates were read", async () => {
    // Each round a new identity (its files not read yet) and a caller dialling at once: before
    // certificatesLoaded(), a server could listen first and drop that connection (UNAVAILABLE).
    for (let round = 0; round < 5; round++) {
      const fresh = await startServer(security, "users");
      try {
        const caller = open(
          fresh.address,
          createMeshIdentity(security, { kind: "service", name: "orders" }).dialOptions("users"),
        );
        const result = await callOnce(caller, "/shop.users.v1.UserService/GetUser", {
          requestStream: false,
          responseStream: false,
        });
        expect(status[result.code]).toBe("OK");
        caller.close();
      } finally {
        await fresh.server.shutdown();
      }
    }
  });

  it("sheds a caller past its rate with RESOURCE_EXHAUSTED and a pushback, while others are still served", async () => {
    const limits: LimitsConfig = {
      maxConcurrentCalls: 100,
      pushback: 250,
      drainDelay: 0,
      shutdownGrace: 500,
      perCaller: { rate: 1, burst: 3 },
    };
    const limited = await startServer(security, "users", limits);
    try {
      const check = { requestStream: false, responseStream: false };
      const dial = (name: string) =>
        open(
          limited.address,
          createMeshIdentity(security, { kind: "service", name }).dialOptions("users"),
        );
      const gateway = dial("gateway");
      const codes = [];
      for (let i = 0; i < 5; i++)
        codes.push(await callOnce(gateway, "/shop.users.v1.UserService/ListUsers", check));
      expect(codes.map((c) => status[c.code])).toEqual([
        "OK",
        "OK",
        "OK",
        "RESOURCE_EXHAUSTED",
        "RESOURCE_EXHAUSTED",
      ]);
      expect(codes[3].metadata?.get("grpc-retry-pushback-ms")).toEqual(["250"]);
      expect(codes[3].details).toContain("limits.perCaller");
      // Another identity has its own bucket.
      const orders = dial("orders");
      expect((await callOnce(orders, "/shop.users.v1.UserService/GetUser", check)).code).toBe(
        status.OK,
      );
    } finally {
      await limited.server.shutdown();
    }
  });
});

describeWithOpenssl("plaintext mode", () => {
  it("lets every call through as anonymous: there is no identity to authorize", async () => {
    const security: SecurityConfig = { ...testPki(), mode: "plaintext" };
    const plain = await startServer(security, "users");
    const client = new Client(plain.address, credentials.createInsecure());
    try {
      const result = await callOnce(client, "/shop.payments.v1.PaymentService/Charge", {
        requestStream: false,
        responseStream: false,
      });
      expect(result.code).toBe(status.OK);
      expect(plain.seen.get("/shop.payments.v1.PaymentService/Charge")).toEqual([ANONYMOUS]);
    } finally {
      client.close();
      await plain.server.shutdown();
      rmSync(security.pkiDir, { recursive: true, force: true });
    }
  });
});
