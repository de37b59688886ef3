import { secretCertificateFiles } from "../identity/pki";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { parseDuration } from "./duration";
import { projectRoot } from "./paths";
import {
  loadTopology,
  parseTopology,
  serviceOf,
  servicesInStartOrder,
  TopologyError,
  type Topology,
} from "./topology";

const MESH_YAML = join(projectRoot(), "mesh.yaml");

/** The project's mesh.yaml as a plain object, for tests to spoil one field at a time. */
type Doc = {
  services: Record<string, Record<string, unknown> | null>;
  policy: {
    defaults: { timeout: unknown; retry: Record<string, unknown> };
    methods: Record<string, unknown>;
  };
} & Record<string, unknown>;
const projectDoc = (): Doc => parseYaml(readFileSync(MESH_YAML, "utf8")) as Doc;

/** The TopologyError that parsing `doc` throws. */
function errorOf(doc: unknown, env: NodeJS.ProcessEnv = {}): TopologyError {
  try {
    parseTopology(doc, "mesh.yaml", env);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    return err as TopologyError;
  }
  throw new Error("expected the topology to be refused");
}

const spoiled = (spoil: (doc: Doc) => void): Doc => {
  const doc = projectDoc();
  spoil(doc);
  return doc;
};

describe("topology", () => {
  describe("the project's mesh.yaml", () => {
    let topology: Topology;
    beforeAll(() => (topology = loadTopology({})));

    it("loads every service with its address, store and dependencies", () => {
      expect(topology.file).toBe(MESH_YAML);
      expect(Object.keys(topology.services)).toEqual(
        expect.arrayContaining(["inventory", "orders", "payments", "users"]),
      );
      expect(topology.services.users).toEqual({
        name: "users",
        listen: "127.0.0.1:50051",
        instance: 0,
        instances: [{ index: 0, listen: "127.0.0.1:50051" }],
        target: "127.0.0.1:50051",
        store: join(projectRoot(), "data", "users.sqlite"),
        dependsOn: [],
      });
      expect(topology.services.orders.dependsOn).toEqual(["users", "inventory", "payments"]);
    });

    it("runs two instances of inventory on ports a step apart, dialled as one ipv4 list", () => {
      expect(topology.services.inventory.instances.map((i) => i.listen)).toEqual([
        "127.0.0.1:50052",
        "127.0.0.1:50152",
      ]);
      expect(topology.services.inventory.target).toBe("ipv4:127.0.0.1:50052,127.0.0.1:50152");
      expect(serviceOf(topology, "inventory", { MESH_INSTANCE: "1" }).listen).toBe(
        "127.0.0.1:50152",
      );
      expect(() => serviceOf(topology, "inventory", { MESH_INSTANCE: "2" })).toThrow(
        "MESH_INSTANCE=2: services.inventory has instances 0 to 1",
      );
    });

    it("loads the call policy with every duration in milliseconds", () => {
      // Values come from the file itself, so that tuning mesh.yaml does not break this test.
      const raw = projectDoc().policy as unknown as {
        defaults: { timeout: string; retry: { initialBackoff: string; maxBackoff: string } };
        methods: Record<string, { timeout?: string }>;
      };
      const { defaults, methods } = topology.policy;

      expect(defaults.timeout).toBe(parseDuration(raw.defaults.timeout));
      expect(defaults.retry.initialBackoff).toBe(parseDuration(raw.defaults.retry.initialBackoff));
      expect(defaults.retry.maxBackoff).toBe(parseDuration(raw.defaults.retry.maxBackoff));
      for (const [key, policy] of Object.entries(raw.methods)) {
        if (policy.timeout) expect(methods[key].timeout).toBe(parseDuration(policy.timeout));
      }
      expect(methods["shop.orders.v1.OrderService/PlaceOrder"].timeout).toBeGreaterThan(
        defaults.timeout,
      );
    });
  });

  it("reads the file MESH_TOPOLOGY names", () => {
    const dir = mkdtempSync(join(tmpdir(), "topology-"));
    try {
      const file = join(dir, "other.yaml");
      writeFileSync(file, readFileSync(MESH_YAML, "utf8").replace("port: 50051", "port: 6100"));

      expect(loadTopology({ MESH_TOPOLOGY: file }).services.users.listen).toBe("127.0.0.1:6100");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("names the file when it cannot be read", () => {
    const missing = join(tmpdir(), "no-such-topology.yaml");

    expect(() => loadTopology({ MESH_TOPOLOGY: missing })).toThrow(
      `${missing}: cannot be read as YAML`,
    );
  });

  it("defaults host and dataDir when the file leaves them out", () => {
    const topology = parseTopology(
      spoiled((d) => (delete d.host, delete d.dataDir)),
      "mesh.yaml",
    );

    expect(topology.services.payments.listen).toBe("127.0.0.1:50053");
    expect(topology.services.payments.store).toBe(join(projectRoot(), "data", "payments.sqlite"));
  });

  describe("refuses an invalid document, naming the field and what is expected", () => {
    it("a port out of range", () => {
      expect(errorOf(spoiled((d) => (d.services.users!.port = 70_000))).message).toMatch(
        /^mesh\.yaml is not a valid topology:\n {2}services\.users\.port: .*<=65535$/,
      );
    });

    it("a port that is not a number", () => {
      expect(errorOf(spoiled((d) => (d.services.users!.port = "fifty"))).message).toMatch(
        /services\.users\.port: .*expected number, received string/,
      );
    });

    it("a duration written in words", () => {
      expect(errorOf(spoiled((d) => (d.policy.defaults.timeout = "2 seconds"))).message).toBe(
        'mesh.yaml is not a valid topology:\n  policy.defaults.timeout: expected a duration such as "250ms" or "2s", got "2 seconds"',
      );
    });

    it("a zero duration", () => {
      expect(
        errorOf(spoiled((d) => (d.policy.defaults.retry.initialBackoff = "0ms"))).message,
      ).toContain(
        'policy.defaults.retry.initialBackoff: expected a duration such as "250ms" or "2s", got "0ms"',
      );
    });

    it("an unknown retry code, listing the codes it may be", () => {
      const { message } = errorOf(
        spoiled((d) => (d.policy.defaults.retry.retryableCodes = ["UNAVAILABLE", "SOMETIMES"])),
      );

      expect(message).toMatch(
        / {2}policy\.defaults\.retry\.retryableCodes\.1: expected one of UNKNOWN, .*UNAVAILABLE/,
      );
    });

    it("a retry on CANCELLED or DEADLINE_EXCEEDED, which are never retried", () => {
      const { message } = errorOf(
        spoiled(
          (d) =>
            (d.policy.defaults.retry.retryableCodes = [
              "UNAVAILABLE",
              "CANCELLED",
              "DEADLINE_EXCEEDED",
            ]),
        ),
      );

      expect(message).toContain("policy.defaults.retry.retryableCodes.1: expected one of");
      expect(message).toContain("policy.defaults.retry.retryableCodes.2: expected one of");
      expect(message).toContain("(OK, CANCELLED, DEADLINE_EXCEEDED are never retried)");
    });

    it("maxAttempts above the 5 that grpc-js allows", () => {
      expect(errorOf(spoiled((d) => (d.policy.defaults.retry.maxAttempts = 6))).message).toMatch(
        /policy\.defaults\.retry\.maxAttempts: .*<=5/,
      );
    });

    it("an unknown key, as a typo would make one", () => {
      expect(errorOf(spoiled((d) => (d.services.users!.prot = 50051))).message).toBe(
        'mesh.yaml is not a valid topology:\n  services.users: Unrecognized key: "prot"',
      );
      expect(errorOf(spoiled((d) => (d.polcy = {}))).message).toContain(
        '(top level): Unrecognized key: "polcy"',
      );
    });

    it("a service that is not a mapping", () => {
      expect(errorOf(spoiled((d) => (d.services.users = null))).message).toMatch(
        /services\.users: .*expected object/,
      );
    });

    it("every problem at once, one line each", () => {
      const { message } = errorOf(
        spoiled((d) => {
          d.services.users!.port = -1;
          d.policy.defaults.timeout = "soon";
        }),
      );

      expect(message.split("\n")).toEqual([
        "mesh.yaml is not a valid topology:",
        expect.stringMatching(/^ {2}services\.users\.port: /),
        expect.stringMatching(/^ {2}policy\.defaults\.timeout: /),
      ]);
    });

    it("dependsOn naming a service that is not in the file", () => {
      expect(
        errorOf(spoiled((d) => (d.services.orders!.dependsOn = ["users", "no-such-service"])))
          .message,
      ).toBe(
        'mesh.yaml: services.orders.dependsOn: "no-such-service" is not a service in this file',
      );
    });

    it("a policy for a method that is not in proto/", () => {
      expect(
        errorOf(
          spoiled(
            (d) => (d.policy.methods["shop.users.v1.UserService/DeleteUser"] = { timeout: "1s" }),
          ),
        ).message,
      ).toBe(
        'mesh.yaml: policy.methods: "shop.users.v1.UserService/DeleteUser" names no method in proto/',
      );
      expect(
        errorOf(spoiled((d) => (d.policy.methods["shop.users.v1.NoService"] = { timeout: "1s" })))
          .message,
      ).toBe('mesh.yaml: policy.methods: "shop.users.v1.NoService" names no method in proto/');
    });

    it("a policy key that is not a service or method name", () => {
      expect(errorOf(spoiled((d) => (d.policy.methods.users = { timeout: "1s" }))).message).toBe(
        'mesh.yaml is not a valid topology:\n  policy.methods.users: expected "package.Service" or "package.Service/Method"',
      );
    });

    it("a document that is not a mapping", () => {
      expect(errorOf("services: users").message).toBe(
        "mesh.yaml: expected a YAML mapping at the top level",
      );
    });
  });

  describe("environment overrides", () => {
    it("USERS_PORT, MESH_HOST and USERS_TARGET change where users listens and is dialled", () => {
      const { users, orders } = parseTopology(projectDoc(), "mesh.yaml", {
        USERS_PORT: "6000",
        MESH_HOST: "0.0.0.0",
        USERS_TARGET: "dns:///users.internal:6000",
      }).services;

      expect(users.listen).toBe("0.0.0.0:6000");
      expect(users.target).toBe("dns:///users.internal:6000");
      expect(orders.listen).toBe("0.0.0.0:50054");
    });

    it("MESH_DATA_DIR moves every store, and USERS_STORE moves one", () => {
      const { users, payments } = parseTopology(projectDoc(), "mesh.yaml", {
        MESH_DATA_DIR: "/var/lib/shop",
        USERS_STORE: ":memory:",
      }).services;

      expect(users.store).toBe(":memory:");
      expect(payments.store).toBe("/var/lib/shop/payments.sqlite");
    });

    it("DATABASE_URL puts every store on PostgreSQL, each in its own schema; <NAME>_DATABASE_URL wins for one", () => {
      const { users, orders } = parseTopology(projectDoc(), "mesh.yaml", {
        DATABASE_URL: "postgres://shop:secret@db.internal:5432/shop",
        ORDERS_DATABASE_URL: "postgresql://orders@orders-db/orders?schema=sales",
        USERS_STORE: ":memory:",
      }).services;

      expect(users.store).toBe("postgres://shop:secret@db.internal:5432/shop?schema=users");
      expect(orders.store).toBe("postgresql://orders@orders-db/orders?schema=sales");
    });

    it("a DATABASE_URL that is not a postgres:// URL is refused, naming the variable", () => {
      expect(errorOf(projectDoc(), { DATABASE_URL: "mysql://db/shop" }).message).toMatch(
        /services\.\w+\.store \(from DATABASE_URL\): expected a URL postgres:\/\//,
      );
    });

    it("a relative store path is taken from the project root", () => {
      expect(
        parseTopology(projectDoc(), "mesh.yaml", { MESH_DATA_DIR: "tmp/data" }).services.orders
          .store,
      ).toBe(join(projectRoot(), "tmp", "data", "orders.sqlite"));
    });

    it("a bad value's message names the variable it came from", () => {
      expect(errorOf(projectDoc(), { USERS_PORT: "abc" }).message).toMatch(
        /^mesh\.yaml is not a valid topology:\n {2}services\.users\.port \(from USERS_PORT\): .*expected number/,
      );
      expect(errorOf(projectDoc(), { USERS_PORT: "70000" }).message).toMatch(
        /services\.users\.port \(from USERS_PORT\): .*<=65535/,
      );
      expect(errorOf(projectDoc(), { MESH_DATA_DIR: "" }).message).toMatch(
        / {2}dataDir \(from MESH_DATA_DIR\): /,
      );
    });

    it("loadTopology applies the environment it is given", () => {
      expect(loadTopology({ PAYMENTS_PORT: "7003" }).services.payments.listen).toBe(
        "127.0.0.1:7003",
      );
    });
  });

  describe("security", () => {
    type Security = { mode?: string; allow: Record<string, unknown>; trustDomain?: string };
    const withSecurity = (spoil: (security: Security) => void): Doc =>
      spoiled((doc) => spoil(doc.security as Security));

    it("is mTLS by default, with the PKI under the data folder and the rules as written", () => {
      const { security, limits } = parseTopology(
        spoiled((doc) => delete (doc.security as Security).mode),
        "mesh.yaml",
        { MESH_DATA_DIR: "/tmp/mesh-data" },
      );
      expect(security.mode).toBe("mtls");
      expect(security.pkiDir).toBe("/tmp/mesh-data/pki");
      expect(security.serviceNames).toEqual([
        "users",
        "inventory",
        "payments",
        "orders",
        "notifications",
        "gateway",
      ]);
      expect(security.allow["shop.payments.v1.PaymentService/Charge"]).toEqual(["orders"]);
      expect(limits.perCaller).toEqual({ rate: 5000, burst: 10000 });
    });

    it("without a security section: mTLS, one operator, and nothing allowed but to operators", () => {
      const { security } = parseTopology(
        spoiled((doc) => delete doc.security),
        "mesh.yaml",
      );
      expect(security).toMatchObject({
        mode: "mtls",
        trustDomain: "shop.local",
        operators: ["admin"],
        clients: [],
        allow: {},
        certificateRefresh: 5_000,
      });
    });

    it("switches to plaintext with MESH_PLAINTEXT=1", () => {
      expect(parseTopology(projectDoc(), "mesh.yaml", { MESH_PLAINTEXT: "1" }).security.mode).toBe(
        "plaintext",
      );
    });

    it("reads this process's certificate from a mounted TLS secret with MESH_CERTS_DIR", () => {
      const topology = parseTopology(projectDoc(), "mesh.yaml", {
        MESH_CERTS_DIR: "/etc/mesh/certs",
      });
      expect(topology.security.certificateDir).toBe("/etc/mesh/certs");
      expect(secretCertificateFiles("/etc/mesh/certs")).toEqual({
        cert: "/etc/mesh/certs/tls.crt",
        key: "/etc/mesh/certs/tls.key",
        ca: "/etc/mesh/certs/ca.crt",
      });
    });

    it("names the field of a bad mode, an unknown method, an unknown caller or a bad trust domain", () => {
      expect(errorOf(withSecurity((s) => (s.mode = "tls"))).message).toContain(
        'security.mode: expected "mtls" or "plaintext"',
      );
      expect(
        errorOf(
          withSecurity((s) => (s.allow["shop.payments.v1.PaymentService/Steal"] = ["orders"])),
        ).message,
      ).toBe(
        'mesh.yaml: security.allow: "shop.payments.v1.PaymentService/Steal" names no method in proto/',
      );
      expect(
        errorOf(withSecurity((s) => (s.allow["shop.users.v1.UserService"] = ["gateway", "ordrs"])))
          .message,
      ).toMatch(
        /^mesh\.yaml: security\.allow\."shop\.users\.v1\.UserService"\.1: "ordrs" is neither a service/,
      );
      expect(errorOf(withSecurity((s) => (s.trustDomain = "Shop Local"))).message).toContain(
        "security.trustDomain: expected a lowercase DNS-like name",
      );
    });
  });

  it("serviceOf names the file when a service is missing", () => {
    const topology = loadTopology({});

    expect(serviceOf(topology, "users").listen).toBe("127.0.0.1:50051");
    expect(() => serviceOf(topology, "no-such-service")).toThrow(
      new TopologyError(`${MESH_YAML}: services.no-such-service is missing`),
    );
  });
});

describe("the event transport", () => {
  it("is the built-in stream unless the file or EVENTS_TRANSPORT says nats", () => {
    expect(parseTopology(projectDoc(), "mesh.yaml").events).toEqual({ transport: "builtin" });
    expect(
      parseTopology(projectDoc(), "mesh.yaml", {
        EVENTS_TRANSPORT: "nats",
        NATS_URL: "nats://127.0.0.1:4222",
      }).events,
    ).toEqual({ transport: "nats", natsUrl: "nats://127.0.0.1:4222" });
  });

  it("takes NATS_URL over the file's natsUrl", () => {
    const doc = spoiled((d) => (d.events = { transport: "nats", natsUrl: "nats://a:4222" }));

    expect(parseTopology(doc, "mesh.yaml", { NATS_URL: "nats://b:4333" }).events.natsUrl).toBe(
      "nats://b:4333",
    );
  });

  it("refuses nats without a URL, an unknown transport and a URL that is not one, naming the field", () => {
    expect(errorOf(spoiled((d) => (d.events = { transport: "nats" }))).message).toBe(
      "mesh.yaml is not a valid topology:\n" +
        "  events.natsUrl: required when events.transport is nats (or set NATS_URL)",
    );
    expect(errorOf(projectDoc(), { EVENTS_TRANSPORT: "kafka" }).message).toContain(
      'events.transport (from EVENTS_TRANSPORT): expected "builtin" or "nats"',
    );
    expect(
      errorOf(spoiled((d) => (d.events = { transport: "nats", natsUrl: "127.0.0.1:4222" })))
        .message,
    ).toContain("events.natsUrl: expected a URL such as nats://127.0.0.1:4222");
  });
});

describe("servicesInStartOrder", () => {
  type Doc = { services: Record<string, { port: number; dependsOn?: string[] }> };
  const project = (): Doc => parseYaml(readFileSync(MESH_YAML, "utf8")) as Doc;

  it("lists every service after those it depends on, otherwise in the file's order", () => {
    const doc = project();
    // orders first in the file: it still starts after users, inventory and payments.
    const { orders, ...rest } = doc.services;
    doc.services = { orders, ...rest };
    expect(servicesInStartOrder(parseTopology(doc, "t.yaml"))).toEqual([
      "users",
      "inventory",
      "payments",
      "orders",
      "notifications",
    ]);
  });

  it("with roots, lists only them and what they depend on", () => {
    expect(servicesInStartOrder(loadTopology({}), ["orders"])).toEqual([
      "users",
      "inventory",
      "payments",
      "orders",
    ]);
  });

  it("refuses a cycle of dependsOn, naming it", () => {
    const doc = project();
    doc.services.users.dependsOn = ["notifications"];
    expect(() => servicesInStartOrder(parseTopology(doc, "t.yaml"))).toThrow(
      new TopologyError(
        "t.yaml: services.users.dependsOn: a cycle (users -> notifications -> orders -> users)",
      ),
    );
  });
});
