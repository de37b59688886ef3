import { openStore, silentLogger, type CallContext, type Store } from "../../mesh";
import type { ChargeRequest } from "../../gen/shop/payments/v1/payments";
import { describeEachBackend } from "../../test/backends";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

const ctx = {} as CallContext;
const CALLS = 30;

/**
 * Two stores on one database are two connections, as two payments processes would have:
 * only the store's write lock keeps them from charging an order twice.
 */
describeEachBackend("payments charged from two connections to one database", (backend) => {
  let stores: Store[];
  let instances: ReturnType<typeof createPaymentsService>[];

  beforeEach(async () => {
    const file = backend.freshStore("payments");
    // Opened one after the other: the second finds the schema migrated by the first.
    const first = await openStore({ file, migrations, durability: "full", log: silentLogger() });
    const second = await openStore({ file, migrations, durability: "full", log: silentLogger() });
    stores = [first, second];
    instances = stores.map((store) => createPaymentsService({ store: createPaymentsStore(store) }));
  });
  afterEach(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  const request = (orderId: string): ChargeRequest => ({
    orderId,
    userId: "usr_1",
    amount: { currencyCode: "USD", units: 42, nanos: 0 },
    paymentMethod: "tok_visa",
  });
  const rowsIn = async (table: string): Promise<number> => {
    const [row] = await stores[0].db(table).count({ n: "*" });
    return Number(row.n);
  };

  it(`${CALLS} identical charges at once all get the same payment, and one row exists`, async () => {
    const calls = Array.from({ length: CALLS }, (_, i) =>
      instances[i % 2].charge(request("ord_race"), ctx),
    );

    const results = await Promise.all(calls);

    const ids = new Set(results.map((r) => r.payment?.paymentId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^pay_/);
    expect(await rowsIn("payments")).toBe(1);
  });

  it("refunds with a reason of the longest length allowed (500 characters)", async () => {
    const { payment } = await instances[0].charge(request("ord_long"), ctx);
    const reason = "r".repeat(500);

    const refunded = await instances[1].refund(
      {
        refundId: "ref_long",
        paymentId: payment!.paymentId,
        amount: { currencyCode: "USD", units: 2, nanos: 0 },
        reason,
      },
      ctx,
    );

    expect(refunded.payment?.refundedAmount).toMatchObject({ units: 2 });
    const stored = (await stores[0].db("refunds").where({ refund_id: "ref_long" }).first()) as {
      reason: string;
    };
    expect(stored.reason).toBe(reason);
  });

  it(`${CALLS} charges of distinct orders at once make ${CALLS} payments`, async () => {
    const calls = Array.from({ length: CALLS }, (_, i) =>
      instances[i % 2].charge(request(`ord_${i}`), ctx),
    );

    const results = await Promise.all(calls);

    expect(new Set(results.map((r) => r.payment?.paymentId)).size).toBe(CALLS);
    expect(await rowsIn("payments")).toBe(CALLS);
  });
});
