import { seededRandom } from "../../mesh/api";
import { Client, credentials, Metadata, status, type ServiceDefinition } from "@grpc/grpc-js";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../../gen/shop/payments/v1/payments";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { NotificationServiceService } from "../../gen/shop/notifications/v1/notifications";
import { openStore, silentLogger, type Store } from "../../mesh";
import { migrations } from "../../services/notifications/migrations";
import { createNotificationsService } from "../../services/notifications/service";
import { createNotificationsStore } from "../../services/notifications/store";
import { rejectionOf, startTestServer, type TestServer } from "../support";
import { startShop, type TestShop } from "../shop";

const NEVER_FOR_BAD_INPUT = [status.INTERNAL, status.UNKNOWN];
// Lists whose filters are all optional; ListNotifications needs its user_id.
const EMPTY_IS_VALID = new Set([
  "/shop.users.v1.UserService/ListUsers",
  "/shop.inventory.v1.InventoryService/ListProducts",
  "/shop.payments.v1.PaymentService/ListPayments",
  "/shop.orders.v1.OrderService/ListOrders",
]);
const RANDOM_CASES_PER_METHOD = 25;

describe("bad input to every method", () => {
  let shop: TestShop;
  let addresses: Map<ServiceDefinition, string>;
  let notifications: TestServer;
  let notificationsStore: Store;

  beforeAll(async () => {
    shop = await startShop();
    // Notifications' handlers on their own store; its event consumer plays no part here.
    notificationsStore = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    notifications = await startTestServer((s) =>
      s.addService(
        NotificationServiceService,
        createNotificationsService({ store: createNotificationsStore(notificationsStore) }),
      ),
    );
    addresses = new Map<ServiceDefinition, string>([
      [UserServiceService, shop.addresses.users],
      [InventoryServiceService, shop.addresses.inventory],
      [PaymentServiceService, shop.addresses.payments],
      [OrderServiceService, shop.addresses.orders],
      [NotificationServiceService, notifications.address],
    ]);
  });
  afterAll(async () => {
    await shop.stop();
    await notifications.close();
    await notificationsStore.close();
  });

  /** Sends raw bytes as a request; resolves to the status code. */
  const send = (address: string, path: string, bytes: Buffer): Promise<number> => {
    const client = new Client(address, credentials.createInsecure());
    return new Promise<number>((resolve) => {
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        bytes,
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (err) => {
          client.close();
          resolve(err ? err.code : status.OK);
        },
      );
    });
  };

  it("never answers INTERNAL or UNKNOWN to an empty request, and refuses empty mutations with INVALID_ARGUMENT", async () => {
    const wrong: string[] = [];
    for (const [definition, address] of addresses) {
      for (const method of Object.values(definition)) {
        const code = await send(address, method.path, Buffer.alloc(0));
        // An empty list request is a valid first page; every other method has a required field.
        const expected: number = EMPTY_IS_VALID.has(method.path)
          ? status.OK
          : status.INVALID_ARGUMENT;
        if (code !== expected) wrong.push(`${method.path}: ${status[code]}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("never answers INTERNAL or UNKNOWN to random bytes, and keeps serving", async () => {
    const next = seededRandom(20261126);
    const wrong: string[] = [];
    for (const [definition, address] of addresses) {
      for (const method of Object.values(definition)) {
        for (let i = 0; i < RANDOM_CASES_PER_METHOD; i++) {
          const bytes = Buffer.from(
            Array.from({ length: 1 + Math.floor(next() * 64) }, () => Math.floor(next() * 256)),
          );
          const code = await send(address, method.path, bytes);
          if (NEVER_FOR_BAD_INPUT.includes(code))
            wrong.push(`${method.path} ${bytes.toString("hex")}: ${status[code]}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect((await shop.users.listUsers({ pageSize: 1, pageToken: "" })).users).toBeDefined();
  });

  describe("orders", () => {
    const valid = {
      requestId: "r-1",
      userId: "usr_x",
      items: [{ sku: "sku-a", quantity: 1 }],
      paymentMethod: "",
    };
    const fieldsOf = (details: string): string[] =>
      details.split("; ").map((part) => part.split(": ")[0]);

    it.each([
      [
        "an empty request",
        { requestId: "", userId: "", items: [] },
        ["request_id", "user_id", "items"],
      ],
      ["a zero quantity", { items: [{ sku: "sku-a", quantity: 0 }] }, ["items[0].quantity"]],
      ["a negative quantity", { items: [{ sku: "sku-a", quantity: -3 }] }, ["items[0].quantity"]],
      [
        "a quantity over 10,000",
        { items: [{ sku: "sku-a", quantity: 10_001 }] },
        ["items[0].quantity"],
      ],
      [
        "a sku twice",
        {
          items: [
            { sku: "sku-a", quantity: 1 },
            { sku: "sku-a", quantity: 2 },
          ],
        },
        ["items[1].sku"],
      ],
      ["a malformed sku", { items: [{ sku: "SKU A", quantity: 1 }] }, ["items[0].sku"]],
      [
        "101 items",
        { items: Array.from({ length: 101 }, (_, i) => ({ sku: `sku-${i}`, quantity: 1 })) },
        ["items"],
      ],
      ["an overlong request_id", { requestId: "r".repeat(129) }, ["request_id"]],
      ["an overlong user_id", { userId: "u".repeat(65) }, ["user_id"]],
      ["an unknown payment method", { paymentMethod: "tok_bogus" }, ["payment_method"]],
    ])(
      "PlaceOrder with %s answers INVALID_ARGUMENT naming the field",
      async (_, change, fields) => {
        const err = await rejectionOf(shop.orders.placeOrder({ ...valid, ...change }));

        expect(err.code).toBe(status.INVALID_ARGUMENT);
        expect(fieldsOf(err.details)).toEqual(fields);
      },
    );

    it.each([
      ["an empty id", "", status.INVALID_ARGUMENT, "order_id: is required"],
      [
        "an overlong id",
        "o".repeat(65),
        status.INVALID_ARGUMENT,
        "order_id: must be at most 64 characters",
      ],
      ["an unknown id", "ord_unknown", status.NOT_FOUND, "order ord_unknown not found"],
    ])(
      "GetOrder with %s is refused with the right code and message",
      async (_, orderId, code, details) => {
        const err = await rejectionOf(shop.orders.getOrder({ orderId }));

        expect([err.code, err.details]).toEqual([code, details]);
      },
    );

    it.each([
      ["a huge page size", { pageSize: 1_000_000 }, "page_size"],
      ["a negative page size", { pageSize: -1 }, "page_size"],
      ["a made-up page token", { pageToken: "bm90LWEtdG9rZW4" }, "page_token"],
      ["an overlong user_id", { userId: "u".repeat(65) }, "user_id"],
    ])("ListOrders with %s answers INVALID_ARGUMENT naming the field", async (_, change, field) => {
      const err = await rejectionOf(
        shop.orders.listOrders({ userId: "", pageSize: 0, pageToken: "", ...change }),
      );

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fieldsOf(err.details)).toEqual([field]);
    });
  });
});
