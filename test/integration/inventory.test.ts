import { status } from "@grpc/grpc-js";
import { InventoryServiceService, ReservationStatus } from "../../gen/shop/inventory/v1/inventory";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { migrations } from "../../services/inventory/migrations";
import { createInventoryService } from "../../services/inventory/service";
import { createInventoryStore } from "../../services/inventory/store";
import { projectPolicy, rejectionOf, startTestServer, type TestServer } from "../support";

describe("inventory over gRPC", () => {
  let store: Store;
  let server: TestServer;
  let inventory: Peer<typeof InventoryServiceService>;

  beforeAll(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    server = await startTestServer((s) =>
      s.addService(
        InventoryServiceService,
        createInventoryService({ store: createInventoryStore(store) }),
      ),
    );
    inventory = createPeer(InventoryServiceService, {
      target: server.address,
      policy: projectPolicy(),
    });
  });
  afterAll(async () => {
    inventory.close();
    await server.close();
    await store.close();
  });

  it("creates a product and gets it back with its money and timestamp intact", async () => {
    const { product } = await inventory.createProduct({
      sku: "sku-grinder",
      name: "Grinder",
      description: "Burr, 40 settings.",
      price: { currencyCode: "EUR", units: 149, nanos: 990_000_000 },
      initialStock: 3,
    });

    const got = await inventory.getProduct({ sku: "sku-grinder" });

    expect(got.product).toEqual(product);
    expect(got.product!.price).toEqual({ currencyCode: "EUR", units: 149, nanos: 990_000_000 });
    expect(got.product!.createTime).toBeInstanceOf(Date);
  });

  it("reserves and releases stock in a round trip, the reservation priced and timestamped", async () => {
    await inventory.createProduct({
      sku: "sku-kettle",
      name: "Kettle",
      description: "",
      price: { currencyCode: "USD", units: 39, nanos: 500_000_000 },
      initialStock: 4,
    });

    const reserved = await inventory.reserveStock({
      orderId: "ord-42",
      items: [{ sku: "sku-kettle", quantity: 3 }],
    });
    const during = await inventory.getProduct({ sku: "sku-kettle" });
    const released = await inventory.releaseStock({ orderId: "ord-42" });
    const after = await inventory.getProduct({ sku: "sku-kettle" });

    expect(reserved.reservation).toMatchObject({
      orderId: "ord-42",
      status: ReservationStatus.RESERVATION_STATUS_RESERVED,
      items: [
        {
          sku: "sku-kettle",
          quantity: 3,
          unitPrice: { currencyCode: "USD", units: 39, nanos: 500_000_000 },
        },
      ],
    });
    expect(reserved.reservation!.createTime).toBeInstanceOf(Date);
    expect(during.product).toMatchObject({ available: 1, reserved: 3 });
    expect(released.reservation!.status).toBe(ReservationStatus.RESERVATION_STATUS_RELEASED);
    expect(released.reservation!.createTime).toEqual(reserved.reservation!.createTime);
    expect(after.product).toMatchObject({ available: 4, reserved: 0 });
  });

  it("answers INVALID_ARGUMENT naming the item field that is wrong", async () => {
    const err = await rejectionOf(
      inventory.reserveStock({ orderId: "ord-bad", items: [{ sku: "sku-kettle", quantity: 0 }] }),
    );

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("items[0].quantity: must be an integer from 1 to 10000");
  });

  it("answers NOT_FOUND for an unknown product and an order with no reservation", async () => {
    expect((await rejectionOf(inventory.getProduct({ sku: "sku-missing" }))).code).toBe(
      status.NOT_FOUND,
    );
    expect((await rejectionOf(inventory.getReservation({ orderId: "ord-missing" }))).code).toBe(
      status.NOT_FOUND,
    );
  });

  it("answers FAILED_PRECONDITION when there is not enough stock", async () => {
    await inventory.createProduct({
      sku: "sku-rare",
      name: "Rare",
      description: "",
      price: { currencyCode: "USD", units: 1, nanos: 0 },
      initialStock: 1,
    });

    const err = await rejectionOf(
      inventory.reserveStock({ orderId: "ord-7", items: [{ sku: "sku-rare", quantity: 2 }] }),
    );

    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toBe("not enough stock for sku-rare: 1 available, 2 requested");
  });
});
