import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { createPeer, loadTopology, type Peer } from "../../mesh";
import { fieldViolationsOf, MAX_PAGE_SIZE } from "../../mesh/api";
import { loadDescriptors, type LimitsConfig } from "../../mesh/config";
import { rawCall, rawClient } from "../raw-call";
import { startShop, type TestShop } from "../shop";
import { rejectionOf, startTestServer, type TestServer } from "../support";

const policy = loadTopology({}).policy;
const KIB = 1024;
const BASE_LIMITS: LimitsConfig = {
  maxConcurrentCalls: 256,
  pushback: 100,
  drainDelay: 0,
  shutdownGrace: 1_000,
};

describe("request limits", () => {
  let server: TestServer;
  let users: Peer<typeof UserServiceService>;
  let inFlight = 0;
  let peak = 0;
  const unused = (): Promise<never> => Promise.reject(new Error("not used"));

  /** A users server whose GetUser takes 50 ms and echoes the id's length. */
  const start = async (limits: Partial<LimitsConfig>): Promise<void> => {
    server = await startTestServer(
      (s) =>
        s.addService(UserServiceService, {
          createUser: unused,
          listUsers: unused,
          getUser: async (request): Promise<GetUserResponse> => {
            peak = Math.max(peak, ++inFlight);
            await new Promise((resolve) => setTimeout(resolve, 50));
            inFlight--;
            const userId = String(request.userId.length);
            return { user: { userId, email: "", displayName: "", createTime: new Date(0) } };
          },
        }),
      "127.0.0.1:0",
      { limits: { ...BASE_LIMITS, ...limits } },
    );
    users = createPeer(UserServiceService, {
      target: server.address,
      policy,
      channelOptions: { "grpc.max_send_message_length": -1 },
    });
  };
  afterEach(async () => {
    users.close();
    await server.close();
    peak = 0;
  });

  it("answers a request over limits.maxMessageSize with RESOURCE_EXHAUSTED, and serves one under it", async () => {
    await start({ maxMessageSize: 4 * KIB });
    expect((await users.getUser({ userId: "x".repeat(3 * KIB) })).user?.userId).toBe("3072");
    const err = await rejectionOf(users.getUser({ userId: "x".repeat(5 * KIB) }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("refuses a 5 MiB request by default (4 MiB, gRPC's default)", async () => {
    await start({});
    const err = await rejectionOf(users.getUser({ userId: "x".repeat(5 * KIB * KIB) }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
  });

  it("answers metadata over limits.maxMetadataSize with RESOURCE_EXHAUSTED naming the limit", async () => {
    await start({ maxMetadataSize: 2 * KIB });
    const small = new Metadata();
    small.set("x-note", "y".repeat(KIB));
    await users.getUser({ userId: "u" }, { metadata: small });
    const large = new Metadata();
    large.set("x-note", "y".repeat(3 * KIB));
    const err = await rejectionOf(users.getUser({ userId: "u" }, { metadata: large }));
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(
      /^request metadata is \d+ bytes; the limit is 2048 \(limits.maxMetadataSize\)$/,
    );
  });

  it("runs no more calls at once on one connection than limits.maxConcurrentStreams; the rest wait and succeed", async () => {
    await start({ maxConcurrentStreams: 2 });
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => users.getUser({ userId: "u" })),
    );
    expect(answers).toHaveLength(8);
    expect(peak).toBe(2);
  });
});

describe("page-size caps on every List method", () => {
  let shop: TestShop;
  let dataDir: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mesh-limits-"));
    shop = await startShop({ dataDir });
  });
  afterAll(async () => {
    await shop.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses page_size over the maximum and below 0 with a BadRequest violation on page_size", async () => {
    const byService: Record<string, string> = {
      "shop.users.v1.UserService": shop.addresses.users,
      "shop.inventory.v1.InventoryService": shop.addresses.inventory,
      "shop.payments.v1.PaymentService": shop.addresses.payments,
      "shop.orders.v1.OrderService": shop.addresses.orders,
      "shop.notifications.v1.NotificationService": shop.addresses.notifications,
    };
    const checked: string[] = [];
    for (const [service, address] of Object.entries(byService)) {
      const client = rawClient(address);
      for (const method of loadDescriptors().methods(service)) {
        if (!method.input.fields.some((f) => f.name === "page_size")) continue;
        for (const pageSize of [MAX_PAGE_SIZE + 1, -1]) {
          const request = create(method.input, { pageSize, userId: "usr_x" });
          const path = `/${service}/${method.name}`;
          const outcome = await rawCall(client, path, Buffer.from(toBinary(method.input, request)));
          expect({ path, code: outcome.code }).toEqual({ path, code: status.INVALID_ARGUMENT });
          expect(fieldViolationsOf(outcome.metadata).map((v) => v.field)).toContain("page_size");
        }
        checked.push(method.name);
      }
      client.close();
    }
    expect(checked.sort()).toEqual([
      "ListNotifications",
      "ListOrders",
      "ListPayments",
      "ListProducts",
      "ListUsers",
    ]);
  });
});
