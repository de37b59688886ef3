import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { UserServiceService } from "../gen/shop/users/v1/users";
import { createMeshServer, openStore, silentLogger, type MeshServer } from "../mesh";
import { type SecurityConfig } from "../mesh/config";
import { certificateFiles, createMeshIdentity, operatorOf } from "../mesh/identity";
import { createAccessControl } from "../mesh/server";
import { migrations as usersMigrations } from "../services/users/migrations";
import { createUsersService } from "../services/users/service";
import { createUsersStore } from "../services/users/store";
import { freePorts } from "../scripts/ports";
import { printedStatus, runGrpc, runProgram, type GrpcRun } from "./grpc-cli";
import { describeWithOpenssl, testPki } from "./pki";
import { startShop, TEST_SCRYPT, type TestShop } from "./shop";

const json = (run: GrpcRun): Record<string, unknown> =>
  JSON.parse(run.stdout) as Record<string, unknown>;

describe("npm run grpc, against real servers in plaintext", () => {
  jest.setTimeout(60_000);
  let shop: TestShop;
  let at: TestShop["addresses"];
  const grpc = (...args: string[]) => runGrpc(["-plaintext", ...args]);

  beforeAll(async () => {
    shop = await startShop();
    at = shop.addresses;
  });
  afterAll(() => shop.stop());

  it("lists the services a server exposes, sorted, one a line", async () => {
    const run = await grpc(at.orders, "list");

    expect(run).toEqual({
      code: 0,
      stdout: [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "shop.orders.v1.OrderService",
        "",
      ].join("\n"),
      stderr: "",
    });
  });

  it("lists a service's methods by their full names", async () => {
    const run = await grpc(at.users, "list", "shop.users.v1.UserService");

    expect(run.code).toBe(0);
    expect(run.stdout.trim().split("\n")).toEqual([
      "shop.users.v1.UserService.CreateUser",
      "shop.users.v1.UserService.GetUser",
      "shop.users.v1.UserService.ListUsers",
    ]);
  });

  it("describes a method as proto source, with its doc comment, options and full type names", async () => {
    const run = await grpc(at.users, "describe", "shop.users.v1.UserService.GetUser");

    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      [
        "shop.users.v1.UserService.GetUser is a method:",
        "// Returns one user; NOT_FOUND when the id is unknown.",
        "rpc GetUser ( .shop.users.v1.GetUserRequest ) returns ( .shop.users.v1.GetUserResponse ) {",
        "  option idempotency_level = NO_SIDE_EFFECTS;",
        "}",
        "",
      ].join("\n"),
    );
  });

  it("describes a message with a type from another file, fetched over reflection", async () => {
    const run = await grpc(at.users, "describe", ".shop.users.v1.User");

    expect(run.code).toBe(0);
    expect(run.stdout).toContain(
      "shop.users.v1.User is a message:\n// A customer.\nmessage User {\n",
    );
    expect(run.stdout).toContain("  .google.protobuf.Timestamp create_time = 4;\n}");
  });

  it("marks a server stream with `stream`", async () => {
    const run = await grpc(at.orders, "describe", "shop.orders.v1.OrderService.StreamEvents");

    expect(run.stdout).toContain(
      "rpc StreamEvents ( .shop.orders.v1.StreamEventsRequest ) returns ( stream .shop.orders.v1.StreamEventsResponse )",
    );
  });

  it("calls a method with -d in snake_case and prints the proto3 JSON of the answer", async () => {
    const run = await grpc(
      "-d",
      '{"email":"grace@example.com","display_name":"Grace"}',
      at.users,
      "shop.users.v1.UserService/CreateUser",
    );

    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const { user } = json(run) as { user: Record<string, string> };
    expect(user).toEqual({
      userId: expect.stringMatching(/^usr_/) as string,
      email: "grace@example.com",
      displayName: "Grace",
      createTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/) as string,
    });
    // Indented by two spaces, as grpcurl prints.
    expect(run.stdout.split("\n")[1]).toBe('  "user": {');
  });

  it("writes 64-bit integers as strings and accepts them as numbers (proto3 JSON)", async () => {
    const run = await grpc(
      "-d",
      '{"sku":"sku-cli","name":"CLI","price":{"currency_code":"EUR","units":12,"nanos":500000000},"initial_stock":3}',
      at.inventory,
      "shop.inventory.v1.InventoryService.CreateProduct",
    );

    expect(run.code).toBe(0);
    expect((json(run).product as { price: unknown }).price).toEqual({
      currencyCode: "EUR",
      units: "12",
      nanos: 500000000,
    });
  });

  it("reads the request from stdin with -d @", async () => {
    const run = await runGrpc(
      ["-plaintext", "-d", "@", at.inventory, "shop.inventory.v1.InventoryService/GetProduct"],
      { stdin: '{"sku": "sku-cli"}\n' },
    );

    expect(run.code).toBe(0);
    expect((json(run).product as { sku: string }).sku).toBe("sku-cli");
  });

  it("sends -H headers with the call: a bearer token makes it the token's user's", async () => {
    const ada = await shop.signUp("ada-cli@example.com");
    const bob = await shop.signUp("bob-cli@example.com");

    const run = await grpc(
      "-H",
      `authorization: Bearer ${ada.token}`,
      "-d",
      JSON.stringify({ user_id: bob.userId }),
      at.orders,
      "shop.orders.v1.OrderService/ListOrders",
    );

    expect(run.code).toBe(64 + 7);
    expect(printedStatus(run.stderr)?.code).toBe("PermissionDenied");
    const own = await grpc(
      "-H",
      `authorization: Bearer ${ada.token}`,
      at.orders,
      "shop.orders.v1.OrderService/ListOrders",
    );
    expect(own.code).toBe(0);
  });

  it("reports a failed call as grpcurl does, details included, and exits 64 + the code", async () => {
    const run = await grpc(
      "-d",
      '{"request_id":"r","user_id":"usr_x","items":[{"sku":"sku-cli","quantity":0}]}',
      at.orders,
      "shop.orders.v1.OrderService/PlaceOrder",
    );

    expect(run.code).toBe(64 + 3);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      [
        "ERROR:",
        "  Code: InvalidArgument",
        "  Message: items[0].quantity: must be an integer from 1 to 10000",
        "  Details:",
        "  1)\t{",
        '    \t  "@type": "type.googleapis.com/google.rpc.BadRequest",',
        '    \t  "fieldViolations": [',
        "    \t    {",
        '    \t      "field": "items[0].quantity",',
        '    \t      "description": "must be an integer from 1 to 10000"',
        "    \t    }",
        "    \t  ]",
        "    \t}",
        "",
      ].join("\n"),
    );
  });

  it("prints each message of a server stream, and -max-time ends the stream as a deadline", async () => {
    const { token } = await shop.signUp("stream-cli@example.com");
    await grpc(
      "-H",
      `authorization: Bearer ${token}`,
      "-d",
      '{"request_id":"stream-1","items":[{"sku":"sku-cli","quantity":1}]}',
      at.orders,
      "shop.orders.v1.OrderService/PlaceOrder",
    );

    const run = await grpc(
      "-max-time",
      "1.5",
      "-d",
      '{"consumer":"cli-test","after_sequence":0}',
      at.orders,
      "shop.orders.v1.OrderService/StreamEvents",
    );

    expect(run.code).toBe(64 + 4);
    expect(printedStatus(run.stderr)?.code).toBe("DeadlineExceeded");
    // One JSON document per event, one after the other.
    const events = run.stdout
      .split(/\n(?=\{)/)
      .map((text) => JSON.parse(text) as { event: object });
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.every((e) => "orderConfirmed" in e.event || "orderRejected" in e.event)).toBe(
      true,
    );
  });

  it("refuses more than one message for a unary method, naming it, and exits 1", async () => {
    const run = await grpc(
      "-d",
      '{"sku":"a"} {"sku":"b"}',
      at.inventory,
      "shop.inventory.v1.InventoryService/GetProduct",
    );

    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'Error invoking method "shop.inventory.v1.InventoryService/GetProduct": method ' +
        '"shop.inventory.v1.InventoryService.GetProduct" is a unary RPC, but request data contained more than 1 message\n',
    );
  });

  it("names the field of request JSON that does not fit the method, and exits 1", async () => {
    const run = await grpc(
      "-d",
      '{"skew":"x"}',
      at.inventory,
      "shop.inventory.v1.InventoryService/GetProduct",
    );

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^Error invoking method ".*": error getting request data: .*"skew" is unknown/,
    );
  });

  it.each([
    [
      "a service the server does not expose",
      ["shop.nope.v1.Nope/Get"],
      'Error invoking method "shop.nope.v1.Nope/Get": target server does not expose service "shop.nope.v1.Nope"\n',
    ],
    [
      "a method the service does not have",
      ["shop.inventory.v1.InventoryService/Nope"],
      'Error invoking method "shop.inventory.v1.InventoryService/Nope": service ' +
        '"shop.inventory.v1.InventoryService" does not include a method named "Nope"\n',
    ],
    [
      "an unknown symbol to describe",
      ["describe", "shop.Nope"],
      'Failed to resolve symbol "shop.Nope": Symbol not found: shop.Nope\n',
    ],
    [
      "an unknown service to list",
      ["list", "shop.Nope"],
      'Failed to list methods for service "shop.Nope": Service not found: shop.Nope\n',
    ],
  ])("exits 1 with grpcurl's message for %s", async (_what, args, message) => {
    const run = await grpc(at.inventory, ...args);

    expect(run).toEqual({ code: 1, stdout: "", stderr: message });
  });

  it("exits 1 with 'Failed to dial target host' when nothing listens", async () => {
    const [port] = await freePorts(1);
    const closed = `127.0.0.1:${port}`;

    const run = await grpc(closed, "list");

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`^Failed to dial target host "${closed}": .*ECONNREFUSED`),
    );
  });
});

describe("npm run grpc, its command line", () => {
  it.each([["--help"], ["-help"], ["-h"]])(
    "%s prints the usage on stdout and exits 0",
    async (flag) => {
      const run = await runGrpc([flag]);

      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^usage: npm run -s grpc -- \[flags\] ADDRESS list \[SERVICE\]/);
      expect(run.stderr).toBe("");
    },
  );

  it.each([
    [["-bogus", "127.0.0.1:1", "list"], "grpc: Unknown option '-bogus'"],
    [
      ["-plaintext", "127.0.0.1:1", "list", "-d", "{}"],
      "grpc: -d comes after the address: flags go before it",
    ],
    [["-plaintext", "127.0.0.1:1"], "grpc: Too few arguments."],
    [
      ["-plaintext", "-cert", "c.crt", "-key", "c.key", "127.0.0.1:1", "list"],
      "grpc: The -cert argument can only be used with TLS.",
    ],
    [
      ["-cert", "c.crt", "127.0.0.1:1", "list"],
      "grpc: The -cert and -key arguments must be used together",
    ],
    [
      ["-plaintext", "-max-time", "soon", "127.0.0.1:1", "list"],
      'grpc: -max-time: expected seconds, such as 2 or 0.5, got "soon"',
    ],
    [
      ["-plaintext", "-H", "no colon", "127.0.0.1:1", "list"],
      "grpc: -H: expected 'NAME: VALUE', got 'no colon'",
    ],
  ])("%j is a usage error: exit 2, the reason and the usage on stderr", async (args, reason) => {
    const run = await runGrpc(args);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr.startsWith(reason)).toBe(true);
    expect(run.stderr).toContain("usage: npm run -s grpc --");
  });

  it("runs through npm as `npm run -s grpc --`, with nothing but the tool's output", async () => {
    const npm = await runProgram("npm", [
      "run",
      "-s",
      "grpc",
      "--",
      "-plaintext",
      "-bogus",
      "x",
      "list",
    ]);

    expect(npm.code).toBe(2);
    expect(npm.stdout).toBe("");
    expect(npm.stderr.startsWith("grpc: Unknown option '-bogus'")).toBe(true);
  });
});

describeWithOpenssl("npm run grpc, against a real server over mutual TLS", () => {
  jest.setTimeout(60_000);
  let security: SecurityConfig;
  let server: MeshServer;
  let address: string;
  let files: { ca: string; cert: string; key: string };
  const tls = (): string[] => ["-cacert", files.ca, "-cert", files.cert, "-key", files.key];

  beforeAll(async () => {
    security = testPki();
    const log = silentLogger();
    const identity = createMeshIdentity(security, { kind: "service", name: "users" });
    server = createMeshServer({
      log,
      credentials: identity.serverCredentials(),
      access: createAccessControl({ security, log }),
      shutdownGraceMs: 500,
    });
    const store = await openStore({ file: ":memory:", migrations: usersMigrations, log });
    server.addService(
      UserServiceService,
      createUsersService({ store: createUsersStore(store), scrypt: TEST_SCRYPT }),
    );
    await identity.certificatesLoaded();
    address = `127.0.0.1:${await server.listen("127.0.0.1:0")}`;
    server.ready();
    files = certificateFiles(security.pkiDir, operatorOf(security));
  });
  afterAll(async () => {
    await server.shutdown();
    rmSync(dirname(security.pkiDir), { recursive: true, force: true });
  });

  it("calls as the operator with -cacert, -cert and -key, checking the server's name (127.0.0.1)", async () => {
    const run = await runGrpc([...tls(), address, "shop.users.v1.UserService/ListUsers"]);

    expect(run).toEqual({ code: 0, stdout: "{}\n", stderr: "" });
  });

  it("checks the name given with -authority instead: localhost is in the certificate, another name is not", async () => {
    const good = await runGrpc([...tls(), "-authority", "localhost", address, "list"]);
    const bad = await runGrpc([...tls(), "-authority", "shop.example", address, "list"]);

    expect(good.code).toBe(0);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      new RegExp(`^Failed to dial target host "${address}": .*shop\\.example`),
    );
  });

  it("fails the handshake without a client certificate, and in plaintext", async () => {
    const noCert = await runGrpc(["-cacert", files.ca, address, "list"]);
    const plaintext = await runGrpc(["-plaintext", address, "list"]);

    for (const run of [noCert, plaintext]) {
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/^Failed to dial target host/);
    }
  });

  it("reads relative file names from where the command was typed (npm's INIT_CWD)", async () => {
    // Typed in <dir>/sub, naming the certificates as ../pki/<file>.
    const typedIn = mkdtempSync(join(tmpdir(), "grpc-cwd-"));
    mkdirSync(join(typedIn, "sub"));
    symlinkSync(dirname(files.ca), join(typedIn, "pki"));
    const rel = (file: string): string => join("..", "pki", basename(file));
    try {
      const run = await runGrpc(
        [
          "-cacert",
          rel(files.ca),
          "-cert",
          rel(files.cert),
          "-key",
          rel(files.key),
          address,
          "list",
        ],
        {
          env: { INIT_CWD: join(typedIn, "sub") },
        },
      );

      expect(run.code).toBe(0);
      expect(run.stdout).toContain("shop.users.v1.UserService\n");
    } finally {
      rmSync(typedIn, { recursive: true, force: true });
    }
  });

  it("names a certificate file it cannot read, and exits 1", async () => {
    const run = await runGrpc(["-cacert", "/nonexistent/ca.crt", address, "list"]);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Failed to create TLS config: .*\/nonexistent\/ca\.crt/);
  });
});
