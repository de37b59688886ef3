import { readFileSync, rmSync } from "node:fs";
import { Client, credentials, Metadata, ServerCredentials, status } from "@grpc/grpc-js";
import { HealthService } from "../../gen/grpc/health/v1/health";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createMeshServer, createPeer, silentLogger, type MeshServer } from "../../mesh";
import { certificateFiles, createMeshIdentity, type Party } from "../../mesh/identity";
import { createAccessControl } from "../../mesh/server";
import { describeWithOpenssl, issueCertificate, testPki, type IssuedCertificate } from "../pki";
import { projectPolicy } from "../support";

const ADMIN = "spiffe://shop.local/operator/admin";
const ORDERS = "spiffe://shop.local/service/orders";
const CALL_MS = 5_000;
const identity = (b: Buffer): Buffer => b;

const USER = { userId: "usr_1", email: "ada@example.com", displayName: "Ada" };

/** The outcome of one unary call of `path` with an empty request, from a raw grpc-js client. */
function call(client: Client, path: string): Promise<{ code: status; details: string }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      path,
      identity,
      identity,
      Buffer.alloc(0),
      new Metadata(),
      { deadline: Date.now() + CALL_MS },
      (err) => resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" }),
    ),
  );
}

describeWithOpenssl("identities come only from the certificate's one URI SAN", () => {
  const security = testPki();
  const clients: Client[] = [];
  const servers: MeshServer[] = [];
  afterAll(async () => {
    for (const client of clients) client.close();
    for (const server of servers) await server.shutdown(100);
    rmSync(security.pkiDir, { recursive: true, force: true });
  });

  /** A client presenting `files` (any certificate of the mesh CA) to `address`. */
  const clientWith = (address: string, files: IssuedCertificate): Client => {
    const client = new Client(
      address,
      credentials.createSsl(
        readFileSync(files.ca),
        readFileSync(files.key),
        readFileSync(files.cert),
      ),
      { "grpc.ssl_target_name_override": "localhost" },
    );
    clients.push(client);
    return client;
  };

  describe("on the server side", () => {
    let address: string;
    const seen: string[] = [];
    const getUser = "/shop.users.v1.UserService/GetUser";
    const check = "/grpc.health.v1.Health/Check";
    const operator = (): IssuedCertificate =>
      certificateFiles(security.pkiDir, { kind: "operator", name: "admin" });

    beforeAll(async () => {
      const log = silentLogger();
      const server = createMeshServer({
        log,
        shutdownGraceMs: 100,
        credentials: createMeshIdentity(security, {
          kind: "service",
          name: "users",
        }).serverCredentials(),
        access: createAccessControl({ security, log }),
      });
      const refuse = (): Promise<never> => Promise.reject(new Error("not used"));
      server.addService(UserServiceService, {
        createUser: refuse,
        listUsers: refuse,
        getUser: async (_request, ctx) => {
          seen.push(ctx.caller);
          return { user: { ...USER, createTime: new Date(0) } };
        },
      });
      servers.push(server);
      address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
      server.ready();
      // The server's certificate provider reads its files in the background: wait for them.
      const probe = clientWith(address, operator());
      for (let i = 0; i < 50 && (await call(probe, check)).code !== status.OK; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    });

    it("lets the real operator certificate call GetUser, and the handler sees its id", async () => {
      expect(await call(clientWith(address, operator()), getUser)).toEqual({
        code: status.OK,
        details: "",
      });
      expect(seen).toEqual([ADMIN]);
    });

    it.each([
      ["an email SAN reading URI:spiffe://…/operator/admin", [`email.1 = URI:${ADMIN}`]],
      ["an email SAN hiding a comma and a URI", [`email.1 = "a@b.c, URI:${ADMIN}"`]],
      ["a DNS SAN reading URI:spiffe://…/operator/admin", [`DNS.1 = URI:${ADMIN}`]],
      ["two URI SANs (orders and the operator)", [`URI.1 = ${ORDERS}`, `URI.2 = ${ADMIN}`]],
      [
        "the operator's path in another trust domain",
        ["URI.1 = spiffe://evil.example/operator/admin"],
      ],
    ])("refuses a certificate from the mesh CA with %s: PERMISSION_DENIED", async (what, sans) => {
      const files = issueCertificate(security, what.replace(/\W+/g, "-"), sans);
      const outcome = await call(clientWith(address, files), getUser);
      expect(outcome.code).toBe(status.PERMISSION_DENIED);
      expect(seen).toEqual([ADMIN]);
    });

    it('refuses another trust domain even where mesh.yaml allows "*" (health)', async () => {
      const files = issueCertificate(security, "other-domain-health", [
        "URI.1 = spiffe://evil.example/service/orders",
      ]);
      expect((await call(clientWith(address, files), check)).code).toBe(status.PERMISSION_DENIED);
      const own = certificateFiles(security.pkiDir, { kind: "service", name: "orders" });
      expect((await call(clientWith(address, own), check)).code).toBe(status.OK);
    });
  });

  describe("on the client side", () => {
    /** A server presenting `files`, serving health (SERVING for "") to anyone of the CA. */
    const serverWith = async (files: IssuedCertificate): Promise<string> => {
      const server = createMeshServer({
        log: silentLogger(),
        shutdownGraceMs: 100,
        credentials: ServerCredentials.createSsl(
          readFileSync(files.ca),
          [{ cert_chain: readFileSync(files.cert), private_key: readFileSync(files.key) }],
          true,
        ),
      });
      servers.push(server);
      const port = await server.listen("127.0.0.1:0");
      server.ready();
      return `127.0.0.1:${port}`;
    };
    const gateway: Party = { kind: "service", name: "gateway" };
    const healthOf = async (address: string): Promise<number> => {
      const peer = createPeer(HealthService, {
        target: address,
        policy: projectPolicy(),
        ...createMeshIdentity(security, gateway).dialOptions("orders"),
      });
      try {
        await peer.check({ service: "" }, { timeoutMs: 2_000 });
        return status.OK;
      } catch (err) {
        return (err as { code: number }).code;
      } finally {
        peer.close();
      }
    };

    it("accepts a server whose certificate's one URI SAN is the service it dials", async () => {
      const real = certificateFiles(security.pkiDir, { kind: "service", name: "orders" });
      expect(await healthOf(await serverWith(real))).toBe(status.OK);
    });

    it.each([
      ["an email SAN", [`email.1 = URI:${ORDERS}`, "DNS.1 = localhost", "IP.1 = 127.0.0.1"]],
      ["a DNS SAN", [`DNS.1 = URI:${ORDERS}`, "IP.1 = 127.0.0.1"]],
      ["two URI SANs", [`URI.1 = ${ORDERS}`, `URI.2 = ${ADMIN}`, "IP.1 = 127.0.0.1"]],
      ["another trust domain", ["URI.1 = spiffe://evil.example/service/orders"]],
    ])(
      "refuses a server that claims to be orders through %s: the call never reaches it",
      async (what, sans) => {
        const files = issueCertificate(security, `server-${what.replace(/\W+/g, "-")}`, sans);
        expect(await healthOf(await serverWith(files))).toBe(status.UNAVAILABLE);
      },
    );
  });
});
