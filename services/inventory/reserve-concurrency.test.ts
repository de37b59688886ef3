import { status } from "@grpc/grpc-js";
import { openStore, silentLogger, StatusError, type CallContext, type Store } from "../../mesh";
import { describeEachBackend } from "../../test/backends";
import { migrations } from "./migrations";
import { createInventoryService } from "./service";
import { createInventoryStore } from "./store";

const ctx = {} as CallContext;
const STOCK = 10;
const ORDERS = 40;

// Two stores on one database are two connections (SQLite: each with its own lock;
// PostgreSQL: each with its own pool): what two inventory processes sharing a database would be.
describeEachBackend("reserving stock from two connections to one database", (backend) => {
  let stores: Store[];

  beforeEach(async () => {
    const file = backend.freshStore("inventory");
    // One after the other: the first creates the schema, the second finds it migrated.
    stores = [await openStore({ file, migrations, log: silentLogger() })];
    stores.push(await openStore({ file, migrations, log: silentLogger() }));
  });
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it("grants exactly the stock there is and refuses the rest, never going negative", async () => {
    const [one, two] = stores.map((store) =>
      createInventoryService({ store: createInventoryStore(store) }),
    );
    await one.createProduct(
      {
        sku: "sku-last",
        name: "Last",
        description: "",
        price: { currencyCode: "USD", units: 1, nanos: 0 },
        initialStock: STOCK,
      },
      ctx,
    );

    const outcomes = await Promise.allSettled(
      Array.from({ length: ORDERS }, (_, i) =>
        (i % 2 === 0 ? one : two).reserveStock(
          { orderId: `ord-${i}`, items: [{ sku: "sku-last", quantity: 1 }] },
          ctx,
        ),
      ),
    );

    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
    expect(outcomes.length - refused.length).toBe(STOCK);
    for (const { reason } of refused) {
      expect(reason).toBeInstanceOf(StatusError);
      expect((reason as StatusError).code).toBe(status.FAILED_PRECONDITION);
    }
    const { product } = await two.getProduct({ sku: "sku-last" }, ctx);
    expect(product).toMatchObject({ available: 0, reserved: STOCK });
    const [{ count }] = await stores[0].db("reservations").count({ count: "*" });
    expect(Number(count)).toBe(STOCK);
  });
});
