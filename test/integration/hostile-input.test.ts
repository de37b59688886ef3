import { PlaceOrderRequest } from "../../gen/shop/orders/v1/orders";
import { GetUserRequest } from "../../gen/shop/users/v1/users";
import { HealthCheckRequest } from "../../gen/grpc/health/v1/health";
import {
  HealthRegistry,
  listenHealth,
  ServingStatus,
  type HealthListener,
} from "../../mesh/server";
import { cCoreCalls, describeWithCCore, type CCoreCall } from "../c-core";
import { startShop, type TestShop } from "../shop";

const SERVICES = ["users", "inventory", "payments", "orders", "notifications"] as const;
const CHECK = "/grpc.health.v1.Health/Check";
const LIST = "/grpc.health.v1.Health/List";
const WATCH = "/grpc.health.v1.Health/Watch";
const REFLECTION = [
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];
const GET_USER = "/shop.users.v1.UserService/GetUser";
const ORDER_EVENTS = "/shop.orders.v1.OrderService/StreamEvents";
const KIB = 1024;

/** Bytes no protobuf message decodes from. */
const MALFORMED = [
  Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // a length far past the end
  Buffer.from([0x0a, 0x05, 0x61]), // a string cut short
  Buffer.from([0x0f]), // wire type 7 does not exist
  Buffer.from([0x08, 0xff, 0xff]), // a varint that never ends
];

const codesOf = (outcomes: { code: string }[]): string[] => [
  ...new Set(outcomes.map((o) => o.code)),
];

describeWithCCore("hostile input at every port, from gRPC C-core", () => {
  jest.setTimeout(120_000);
  let shop: TestShop;
  let healthListener: HealthListener;
  let ports: { address: string; reflection: boolean }[];

  beforeAll(async () => {
    shop = await startShop();
    // The plaintext health listener (MESH_HEALTH_PORT) is a port of its own.
    const registry = new HealthRegistry();
    registry.set("", ServingStatus.SERVING);
    healthListener = await listenHealth(registry, "127.0.0.1:0");
    ports = [
      ...SERVICES.map((name) => ({ address: shop.addresses[name], reflection: true })),
      { address: `127.0.0.1:${healthListener.port}`, reflection: false },
    ];
  });
  afterAll(async () => {
    healthListener.close();
    await shop.stop();
  });

  it("answers malformed bytes to health Check, List and Watch and to both reflection versions with INVALID_ARGUMENT, on every port", async () => {
    const calls: CCoreCall[] = ports.flatMap(({ address, reflection }) =>
      MALFORMED.flatMap((body) => [
        { target: address, path: CHECK, requests: [body] },
        { target: address, path: LIST, requests: [body] },
        { target: address, path: WATCH, kind: "server_stream" as const, requests: [body] },
        ...(reflection
          ? REFLECTION.map((path) => ({
              target: address,
              path,
              kind: "bidi" as const,
              requests: [body],
            }))
          : []),
      ]),
    );

    const outcomes = await cCoreCalls(calls);

    expect(calls).toHaveLength(6 * 4 * 3 + 5 * 4 * 2);
    expect(codesOf(outcomes)).toEqual(["INVALID_ARGUMENT"]);
    expect(outcomes[0].details).toMatch(
      /^request: not a valid grpc\.health\.v1\.HealthCheckRequest message \(/,
    );
  });

  it("refuses a 1 MB service name to Check and Watch at once, echoing none of it", async () => {
    const body = Buffer.from(
      HealthCheckRequest.encode({ service: "x".repeat(KIB * KIB) }).finish(),
    );
    const outcomes = await cCoreCalls(
      ports.flatMap(({ address }) => [
        { target: address, path: CHECK, requests: [body], timeout: 10 },
        {
          target: address,
          path: WATCH,
          kind: "server_stream" as const,
          requests: [body],
          timeout: 10,
        },
      ]),
    );

    expect(codesOf(outcomes)).toEqual(["INVALID_ARGUMENT"]);
    for (const outcome of outcomes) {
      expect(outcome.details).toBe("service: must be at most 512 characters");
      expect(outcome.seconds).toBeLessThan(5);
    }
  });

  it("refuses metadata over the size or entry limit with RESOURCE_EXHAUSTED before any handler, on unary methods, event streams, health and reflection", async () => {
    const users = shop.addresses.users;
    const orders = shop.addresses.orders;
    const getUser = Buffer.from(GetUserRequest.encode({ userId: "usr_x" }).finish());
    const targets: CCoreCall[] = [
      { target: users, path: GET_USER, requests: [getUser] },
      { target: orders, path: ORDER_EVENTS, kind: "server_stream" },
      { target: users, path: CHECK },
      { target: users, path: WATCH, kind: "server_stream" },
      { target: users, path: REFLECTION[0], kind: "bidi" },
      { target: users, path: REFLECTION[1], kind: "bidi" },
    ];
    const oversized: { metadata: [string, string][]; named: RegExp }[] = [
      { metadata: [["x-pad", "y".repeat(20 * KIB)]], named: /limits\.maxMetadataSize/ },
      { metadata: [["x-pad", "y".repeat(60 * KIB)]], named: /limits\.maxMetadataSize/ },
      {
        metadata: Array.from({ length: 101 }, (_, i): [string, string] => [`x-k${i}`, "v"]),
        named: /limits\.maxMetadataEntries/,
      },
      // Any number of entries Node's size limit lets through reaches the guard, which names
      // the size first (the fuzz's case 21110: Node used to reset these past 416 entries).
      {
        metadata: Array.from({ length: 1_000 }, (_, i): [string, string] => [`x-k${i}`, "v"]),
        named: /limits\.maxMetadataSize/,
      },
      {
        metadata: Array.from({ length: 1_500 }, (_, i): [string, string] => [`x-k${i}`, "v"]),
        named: /limits\.maxMetadataSize/,
      },
      // Past Node's own limit on the header list (4 times ours, 64 KiB): Node resets the stream
      // with ENHANCE_YOUR_CALM, which gRPC reads as RESOURCE_EXHAUSTED.
      {
        metadata: Array.from({ length: 2_000 }, (_, i): [string, string] => [`x-k${i}`, "abcd"]),
        named: /RST_STREAM with error code 11/,
      },
    ];
    const calls = oversized.flatMap(({ metadata }) =>
      targets.map((call) => ({ ...call, metadata, timeout: 5 })),
    );

    const outcomes = await cCoreCalls(calls);

    expect(codesOf(outcomes)).toEqual(["RESOURCE_EXHAUSTED"]);
    outcomes.forEach((outcome, i) => {
      expect(outcome.details).toMatch(oversized[Math.floor(i / targets.length)].named);
      expect(outcome.seconds).toBeLessThan(3);
    });
  });

  it("answers a metadata value over 64 KiB (which Node's HTTP/2 layer leaves hanging) with UNAVAILABLE within the keepalive, not at the deadline", async () => {
    const [outcome] = await cCoreCalls([
      {
        target: shop.addresses.users,
        path: CHECK,
        metadata: [["x-pad", "y".repeat(200 * KIB)]],
        timeout: 30,
      },
    ]);
    expect(outcome.code).toBe("UNAVAILABLE");
    // keepalive_time_ms + keepalive_timeout_ms (server.ts), with room for a loaded machine.
    expect(outcome.seconds).toBeLessThan(20);
  });

  it("refuses a repeated authorization header with UNAUTHENTICATED, whichever comes first", async () => {
    const { userId, token } = await shop.signUp("hostile@example.com");
    const body = Buffer.from(GetUserRequest.encode({ userId }).finish());
    const good: [string, string] = ["authorization", `Bearer ${token}`];
    const other: [string, string] = ["authorization", "Bearer x.y.z"];
    const outcomes = await cCoreCalls([
      { target: shop.addresses.users, path: GET_USER, requests: [body], metadata: [good] },
      { target: shop.addresses.users, path: GET_USER, requests: [body], metadata: [good, other] },
      { target: shop.addresses.users, path: GET_USER, requests: [body], metadata: [other, good] },
      { target: shop.addresses.users, path: GET_USER, requests: [body], metadata: [good, good] },
      { target: shop.addresses.users, path: CHECK, metadata: [good, good] },
    ]);

    expect(outcomes.map((o) => o.code)).toEqual([
      "OK",
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
      "UNAUTHENTICATED",
    ]);
    expect(outcomes[1].details).toBe("authorization: sent more than once");
  });

  it("answers 1,000 bad items with INVALID_ARGUMENT naming 10 of them and counting the rest, small enough for C-core", async () => {
    const { token } = await shop.signUp("items@example.com");
    const body = Buffer.from(
      PlaceOrderRequest.encode({
        requestId: "many-bad-items",
        userId: "",
        items: Array.from({ length: 1_000 }, (_, i) => ({ sku: `sku-${i}`, quantity: 0 })),
        paymentMethod: "",
      }).finish(),
    );
    const [outcome] = await cCoreCalls([
      {
        target: shop.addresses.orders,
        path: "/shop.orders.v1.OrderService/PlaceOrder",
        requests: [body],
        metadata: [["authorization", `Bearer ${token}`]],
      },
    ]);

    expect(outcome.code).toBe("INVALID_ARGUMENT");
    expect(Buffer.byteLength(outcome.details)).toBeLessThanOrEqual(1_024);
    expect(outcome.details).toMatch(/more violations$/);
  });
});
