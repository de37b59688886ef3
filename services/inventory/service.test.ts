import { status } from "@grpc/grpc-js";
import type { CreateProductRequest } from "../../gen/shop/inventory/v1/inventory";
import { ReservationStatus } from "../../gen/shop/inventory/v1/inventory";
import { openStore, silentLogger, StatusError, type CallContext, type Store } from "../../mesh";
import { migrations } from "./migrations";
import { createInventoryService } from "./service";
import { createInventoryStore } from "./store";
import { countTrips } from "../../test/sqlite-trips";

// Handlers called directly on an in-memory store; the context is unused by this service.
const ctx = {} as CallContext;
const NOW = new Date("2026-01-02T03:04:05.678Z");
const USD = (units: number, nanos = 0) => ({ currencyCode: "USD", units, nanos });

const espresso = (overrides: Partial<CreateProductRequest> = {}): CreateProductRequest => ({
  sku: "sku-espresso",
  name: "Espresso",
  description: "Short and strong.",
  price: USD(2, 500_000_000),
  initialStock: 10,
  ...overrides,
});

describe("inventory service", () => {
  let store: Store;
  let inventory: ReturnType<typeof createInventoryService>;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    inventory = createInventoryService({ store: createInventoryStore(store), now: () => NOW });
  });
  afterEach(() => store.close());

  const failure = async (promise: Promise<unknown>): Promise<StatusError> => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StatusError);
    return err as StatusError;
  };
  const fieldsOf = async (promise: Promise<unknown>): Promise<string[]> => {
    const err = await failure(promise);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    return err.fieldViolations.map((f) => f.field);
  };
  const stockOf = async (sku: string) => {
    const { product } = await inventory.getProduct({ sku }, ctx);
    return { available: product!.available, reserved: product!.reserved };
  };
  const reserve = (orderId: string, items: { sku: string; quantity: number }[]) =>
    inventory.reserveStock({ orderId, items }, ctx);

  describe("products", () => {
    it("creates a product with its stock and reads it back unchanged", async () => {
      const { product } = await inventory.createProduct(espresso(), ctx);

      expect(product).toEqual({
        sku: "sku-espresso",
        name: "Espresso",
        description: "Short and strong.",
        price: USD(2, 500_000_000),
        available: 10,
        reserved: 0,
        createTime: NOW,
      });
      expect((await inventory.getProduct({ sku: "sku-espresso" }, ctx)).product).toEqual(product);
    });

    it("accepts a free product without a description", async () => {
      const { product } = await inventory.createProduct(
        espresso({ price: USD(0), description: "" }),
        ctx,
      );

      expect(product).toMatchObject({ price: USD(0), description: "" });
    });

    it("refuses a second product with the same sku with ALREADY_EXISTS", async () => {
      await inventory.createProduct(espresso(), ctx);

      const err = await failure(inventory.createProduct(espresso({ name: "Other" }), ctx));

      expect(err.code).toBe(status.ALREADY_EXISTS);
      expect(err.message).toBe("a product with sku sku-espresso already exists");
    });

    it("answers NOT_FOUND for an unknown sku", async () => {
      const err = await failure(inventory.getProduct({ sku: "sku-nothing" }, ctx));

      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.message).toBe("product sku-nothing not found");
    });

    it("pages through products in sku order with the token until the last page", async () => {
      for (const sku of ["sku-e", "sku-a", "sku-d", "sku-b", "sku-c"]) {
        await inventory.createProduct(espresso({ sku }), ctx);
      }

      const pages: string[][] = [];
      let pageToken = "";
      do {
        const page = await inventory.listProducts({ pageSize: 2, pageToken }, ctx);
        pages.push(page.products.map((p) => p.sku));
        pageToken = page.nextPageToken;
      } while (pageToken !== "");

      expect(pages).toEqual([["sku-a", "sku-b"], ["sku-c", "sku-d"], ["sku-e"]]);
    });

    it("lists everything on one page with the default size and no token after it", async () => {
      await inventory.createProduct(espresso(), ctx);

      const page = await inventory.listProducts({ pageSize: 0, pageToken: "" }, ctx);

      expect(page.products.map((p) => p.sku)).toEqual(["sku-espresso"]);
      expect(page.nextPageToken).toBe("");
    });

    it("refuses a huge or negative page size and a token it did not issue", async () => {
      expect(
        await fieldsOf(inventory.listProducts({ pageSize: 1_000_000, pageToken: "" }, ctx)),
      ).toEqual(["page_size"]);
      expect(await fieldsOf(inventory.listProducts({ pageSize: -1, pageToken: "" }, ctx))).toEqual([
        "page_size",
      ]);
      expect(
        await fieldsOf(inventory.listProducts({ pageSize: 0, pageToken: "%%%" }, ctx)),
      ).toEqual(["page_token"]);
    });
  });

  describe("product validation", () => {
    it("names every missing field of an empty CreateProduct at once", async () => {
      const err = await failure(
        inventory.createProduct(
          { sku: "", name: "", description: "", price: undefined, initialStock: 0 },
          ctx,
        ),
      );

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.message).toBe("sku: is required; name: is required; price: is required");
    });

    it("refuses a sku with upper-case letters, spaces or a leading dash, saying what is allowed", async () => {
      for (const sku of ["SKU-1", "sku 1", "-sku", "sku_1"]) {
        const err = await failure(inventory.createProduct(espresso({ sku }), ctx));

        expect(err.message).toBe("sku: must be lower-case letters, digits and dashes");
      }
    });

    it("refuses overlong sku, name and description and accepts them at the limit", async () => {
      const long = espresso({
        sku: "s".repeat(65),
        name: "n".repeat(201),
        description: "d".repeat(2001),
      });
      const atLimit = espresso({
        sku: "s".repeat(64),
        name: "n".repeat(200),
        description: "d".repeat(2000),
      });

      expect(await fieldsOf(inventory.createProduct(long, ctx))).toEqual([
        "sku",
        "name",
        "description",
      ]);
      await expect(inventory.createProduct(atLimit, ctx)).resolves.toBeDefined();
    });

    it("refuses a negative price and a bad currency, naming the money fields", async () => {
      const price = { currencyCode: "usd", units: -1, nanos: 0 };

      expect(await fieldsOf(inventory.createProduct(espresso({ price }), ctx))).toEqual([
        "price.currency_code",
        "price.units",
      ]);
    });

    it("refuses initial stock below 0, above 1,000,000 or fractional", async () => {
      for (const initialStock of [-1, 1_000_001, 1.5]) {
        expect(await fieldsOf(inventory.createProduct(espresso({ initialStock }), ctx))).toEqual([
          "initial_stock",
        ]);
      }
    });

    it("refuses an empty or malformed sku on GetProduct", async () => {
      expect(await fieldsOf(inventory.getProduct({ sku: "" }, ctx))).toEqual(["sku"]);
      expect(await fieldsOf(inventory.getProduct({ sku: "Nope!" }, ctx))).toEqual(["sku"]);
    });
  });

  describe("reservation validation", () => {
    it("requires an order id and at least one item", async () => {
      const err = await failure(reserve("", []));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.message).toBe("order_id: is required; items: is required");
    });

    it("refuses an order id over 64 characters", async () => {
      expect(await fieldsOf(reserve("o".repeat(65), [{ sku: "sku-a", quantity: 1 }]))).toEqual([
        "order_id",
      ]);
      expect(await fieldsOf(inventory.releaseStock({ orderId: "o".repeat(65) }, ctx))).toEqual([
        "order_id",
      ]);
      expect(await fieldsOf(inventory.getReservation({ orderId: "" }, ctx))).toEqual(["order_id"]);
    });

    it("refuses more than 100 items", async () => {
      const items = Array.from({ length: 101 }, (_, i) => ({ sku: `sku-${i}`, quantity: 1 }));

      const err = await failure(reserve("ord-1", items));

      expect(err.fieldViolations).toEqual([
        { field: "items", description: "must have at most 100 items" },
      ]);
    });

    it("names each bad item by its index: sku, repeated sku, zero, negative and huge quantities", async () => {
      const items = [
        { sku: "sku-a", quantity: 1 },
        { sku: "Bad Sku", quantity: 1 },
        { sku: "sku-b", quantity: 0 },
        { sku: "sku-a", quantity: 2 },
        { sku: "sku-c", quantity: -5 },
        { sku: "sku-d", quantity: 10_001 },
      ];

      const err = await failure(reserve("ord-1", items));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.fieldViolations).toEqual([
        { field: "items[1].sku", description: "must be lower-case letters, digits and dashes" },
        { field: "items[2].quantity", description: "must be an integer from 1 to 10000" },
        { field: "items[3].sku", description: "appears more than once" },
        { field: "items[4].quantity", description: "must be an integer from 1 to 10000" },
        { field: "items[5].quantity", description: "must be an integer from 1 to 10000" },
      ]);
    });
  });

  describe("reserving stock", () => {
    beforeEach(async () => {
      await inventory.createProduct(
        espresso({ sku: "sku-a", price: USD(3), initialStock: 5 }),
        ctx,
      );
      await inventory.createProduct(
        espresso({ sku: "sku-b", price: USD(0, 990_000_000), initialStock: 2 }),
        ctx,
      );
    });

    it("takes the quantities from available into reserved, pricing each item now", async () => {
      const { reservation } = await reserve("ord-1", [
        { sku: "sku-b", quantity: 2 },
        { sku: "sku-a", quantity: 3 },
      ]);

      expect(reservation).toEqual({
        orderId: "ord-1",
        status: ReservationStatus.RESERVATION_STATUS_RESERVED,
        items: [
          { sku: "sku-a", quantity: 3, unitPrice: USD(3) },
          { sku: "sku-b", quantity: 2, unitPrice: USD(0, 990_000_000) },
        ],
        createTime: NOW,
        updateTime: NOW,
      });
      expect(await stockOf("sku-a")).toEqual({ available: 2, reserved: 3 });
      expect(await stockOf("sku-b")).toEqual({ available: 0, reserved: 2 });
      expect((await inventory.getReservation({ orderId: "ord-1" }, ctx)).reservation).toEqual(
        reservation,
      );
    });

    it("reserves in one trip to SQLite's thread pool once it has read the skus' prices", async () => {
      const both = [
        { sku: "sku-a", quantity: 1 },
        { sku: "sku-b", quantity: 1 },
      ];
      const first = countTrips();
      await reserve("ord-1", both);
      // The prices' read; then BEGIN, the claim, both takes and lines, COMMIT in one exec.
      expect(first()).toBe(2);
      const second = countTrips();
      const { reservation } = await reserve("ord-2", both);
      expect(second()).toBe(1);
      expect(reservation?.items.map((item) => item.unitPrice)).toEqual([
        USD(3),
        USD(0, 990_000_000),
      ]);

      // Repriced behind this process's back (as another instance would): the take at the
      // price it knew fails and keeps nothing, and the order is reserved at the new price.
      await store.db("products").where({ sku: "sku-a" }).update({ price_micros: 4_000_000 });
      const repriced = await reserve("ord-3", [{ sku: "sku-a", quantity: 1 }]);
      expect(repriced.reservation?.items[0].unitPrice).toEqual(USD(4));
      expect(await stockOf("sku-a")).toEqual({ available: 2, reserved: 3 });

      // A refusal is found out step by step: more trips, the same answer as ever.
      const refused = countTrips();
      const err = await failure(reserve("ord-4", [{ sku: "sku-b", quantity: 9 }]));
      expect(err.message).toBe("not enough stock for sku-b: 0 available, 9 requested");
      expect(refused()).toBeGreaterThan(2);
    });

    it("when one item lacks stock, reserves nothing for any item and says how much there is", async () => {
      const err = await failure(
        reserve("ord-1", [
          { sku: "sku-a", quantity: 5 },
          { sku: "sku-b", quantity: 3 },
        ]),
      );

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("not enough stock for sku-b: 2 available, 3 requested");
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
      expect(await stockOf("sku-b")).toEqual({ available: 2, reserved: 0 });
      expect((await failure(inventory.getReservation({ orderId: "ord-1" }, ctx))).code).toBe(
        status.NOT_FOUND,
      );
    });

    it("when a sku is unknown, answers NOT_FOUND naming it and reserves nothing", async () => {
      const err = await failure(
        reserve("ord-1", [
          { sku: "sku-a", quantity: 1 },
          { sku: "sku-ghost", quantity: 1 },
        ]),
      );

      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.message).toBe("no product with sku sku-ghost");
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
    });

    it("a replay with the same items in another order returns the first reservation and takes no more stock", async () => {
      const first = await reserve("ord-1", [
        { sku: "sku-a", quantity: 1 },
        { sku: "sku-b", quantity: 1 },
      ]);

      const again = await reserve("ord-1", [
        { sku: "sku-b", quantity: 1 },
        { sku: "sku-a", quantity: 1 },
      ]);

      expect(again).toEqual(first);
      expect(await stockOf("sku-a")).toEqual({ available: 4, reserved: 1 });
    });

    it("a replay after the stock ran out returns the first reservation, not a refusal", async () => {
      const first = await reserve("ord-1", [{ sku: "sku-b", quantity: 2 }]);
      expect(await stockOf("sku-b")).toEqual({ available: 0, reserved: 2 });

      expect(await reserve("ord-1", [{ sku: "sku-b", quantity: 2 }])).toEqual(first);
      // A new order for the same is refused, and the refusal still says why.
      const err = await failure(reserve("ord-2", [{ sku: "sku-b", quantity: 2 }]));
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("not enough stock for sku-b: 0 available, 2 requested");
      expect(await stockOf("sku-b")).toEqual({ available: 0, reserved: 2 });
    });

    it("the same order id with other items answers ALREADY_EXISTS and takes no more stock", async () => {
      await reserve("ord-1", [{ sku: "sku-a", quantity: 1 }]);

      const err = await failure(reserve("ord-1", [{ sku: "sku-a", quantity: 2 }]));

      expect(err.code).toBe(status.ALREADY_EXISTS);
      expect(err.message).toBe("order ord-1 already has a reservation with other items");
      expect(await stockOf("sku-a")).toEqual({ available: 4, reserved: 1 });
    });

    it("keeps the reserved price when the product's price is later different", async () => {
      await reserve("ord-1", [{ sku: "sku-a", quantity: 1 }]);
      // No UpdateProduct exists yet; change the row as a future one would.
      await store.db("products").where({ sku: "sku-a" }).update({ price_micros: 9_000_000 });

      const { reservation } = await inventory.getReservation({ orderId: "ord-1" }, ctx);

      expect(reservation!.items[0].unitPrice).toEqual(USD(3));
    });
  });

  describe("releasing stock", () => {
    beforeEach(async () => {
      await inventory.createProduct(espresso({ sku: "sku-a", initialStock: 5 }), ctx);
    });

    it("gives the stock back and marks the reservation released", async () => {
      await reserve("ord-1", [{ sku: "sku-a", quantity: 4 }]);

      const { reservation } = await inventory.releaseStock({ orderId: "ord-1" }, ctx);

      expect(reservation).toMatchObject({
        orderId: "ord-1",
        status: ReservationStatus.RESERVATION_STATUS_RELEASED,
        items: [{ sku: "sku-a", quantity: 4 }],
      });
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
    });

    it("a second release returns the released reservation and gives nothing back twice", async () => {
      await reserve("ord-1", [{ sku: "sku-a", quantity: 4 }]);
      const first = await inventory.releaseStock({ orderId: "ord-1" }, ctx);

      const second = await inventory.releaseStock({ orderId: "ord-1" }, ctx);

      expect(second).toEqual(first);
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
    });

    it("a reserve after the order was released answers FAILED_PRECONDITION and takes nothing", async () => {
      await reserve("ord-1", [{ sku: "sku-a", quantity: 4 }]);
      await inventory.releaseStock({ orderId: "ord-1" }, ctx);

      const err = await failure(reserve("ord-1", [{ sku: "sku-a", quantity: 4 }]));

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
    });

    it("a release before any reserve records a tombstone, and the late reserve then takes nothing", async () => {
      const { reservation } = await inventory.releaseStock({ orderId: "ord-late" }, ctx);

      const err = await failure(reserve("ord-late", [{ sku: "sku-a", quantity: 1 }]));

      expect(reservation).toEqual({
        orderId: "ord-late",
        status: ReservationStatus.RESERVATION_STATUS_RELEASED,
        items: [],
        createTime: NOW,
        updateTime: NOW,
      });
      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("reservation for order ord-late was released");
      expect(await stockOf("sku-a")).toEqual({ available: 5, reserved: 0 });
    });

    it("answers NOT_FOUND for the reservation of an order never reserved nor released", async () => {
      const err = await failure(inventory.getReservation({ orderId: "ord-none" }, ctx));

      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.message).toBe("no reservation for order ord-none");
    });
  });
});
