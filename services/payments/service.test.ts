import { status } from "@grpc/grpc-js";
import { openStore, silentLogger, StatusError, type CallContext, type Store } from "../../mesh";
import type { Money } from "../../gen/shop/common/v1/common";
import {
  PaymentStatus,
  type ChargeRequest,
  type ListPaymentsRequest,
  type Payment,
  type RefundRequest,
} from "../../gen/shop/payments/v1/payments";
import { migrations } from "./migrations";
import { createPaymentsService } from "./service";
import { createPaymentsStore } from "./store";

// Handlers called directly on an in-memory store; the context is unused by this service.
const ctx = {} as CallContext;
const START = Date.parse("2026-01-02T03:04:05Z");

const usd = (units: number, nanos = 0): Money => ({ currencyCode: "USD", units, nanos });

describe("payments service", () => {
  let store: Store;
  let payments: ReturnType<typeof createPaymentsService>;
  let clock: number;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    clock = START;
    payments = createPaymentsService({
      store: createPaymentsStore(store),
      now: () => new Date(clock),
    });
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
  const fields = (err: StatusError): string[] => err.fieldViolations.map((f) => f.field);
  const rowsIn = async (table: string): Promise<number> => {
    const [row] = await store.db(table).count({ n: "*" });
    return Number(row.n);
  };

  const chargeRequest = (over: Partial<ChargeRequest> = {}): ChargeRequest => ({
    orderId: "ord_1",
    userId: "usr_1",
    amount: usd(12, 500_000_000),
    paymentMethod: "",
    ...over,
  });
  const charge = async (over: Partial<ChargeRequest> = {}): Promise<Payment> => {
    const { payment } = await payments.charge(chargeRequest(over), ctx);
    if (!payment) throw new Error("no payment in the response");
    return payment;
  };
  const refundRequest = (over: Partial<RefundRequest> = {}): RefundRequest => ({
    refundId: "ref_1",
    paymentId: "",
    amount: usd(2),
    reason: "",
    ...over,
  });
  const refund = async (over: Partial<RefundRequest>): Promise<Payment> => {
    const { payment } = await payments.refund(refundRequest(over), ctx);
    if (!payment) throw new Error("no payment in the response");
    return payment;
  };
  const listRequest = (over: Partial<ListPaymentsRequest> = {}): ListPaymentsRequest => ({
    orderId: "",
    userId: "",
    pageSize: 0,
    pageToken: "",
    ...over,
  });

  describe("Charge", () => {
    it("captures the amount, and GetPayment reads the same payment back", async () => {
      const payment = await charge();

      expect(payment).toEqual({
        paymentId: expect.stringMatching(/^pay_[0-9A-Z]{26}$/) as unknown,
        orderId: "ord_1",
        userId: "usr_1",
        amount: usd(12, 500_000_000),
        status: PaymentStatus.PAYMENT_STATUS_CAPTURED,
        declineReason: "",
        refundedAmount: usd(0),
        createTime: new Date(START),
        updateTime: new Date(START),
      });
      expect((await payments.getPayment({ paymentId: payment.paymentId }, ctx)).payment).toEqual(
        payment,
      );
    });

    it("returns the first payment to a replay and stores no second row", async () => {
      const first = await charge();

      const again = await charge();

      expect(again).toEqual(first);
      expect(await rowsIn("payments")).toBe(1);
    });

    it("treats an empty payment_method as tok_visa, so naming tok_visa is a replay", async () => {
      const first = await charge({ paymentMethod: "" });

      const again = await charge({ paymentMethod: "tok_visa" });

      expect(again.paymentId).toBe(first.paymentId);
    });

    it.each([
      ["another amount", { amount: usd(13) }],
      ["another currency", { amount: { ...usd(12, 500_000_000), currencyCode: "EUR" } }],
      ["another user", { userId: "usr_2" }],
      ["another card", { paymentMethod: "tok_chargeDeclined" }],
    ])(
      "answers ALREADY_EXISTS to the same order with %s, and keeps the first payment",
      async (_, over) => {
        const first = await charge();

        const err = await failure(charge(over));

        expect(err.code).toBe(status.ALREADY_EXISTS);
        expect(err.message).toBe("order ord_1 was already charged with a different request");
        expect((await payments.getPayment({ paymentId: first.paymentId }, ctx)).payment).toEqual(
          first,
        );
        expect(await rowsIn("payments")).toBe(1);
      },
    );

    it("records a declined card as DECLINED and answers FAILED_PRECONDITION", async () => {
      const err = await failure(charge({ paymentMethod: "tok_chargeDeclined" }));

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("payment declined: card declined");
      const { payments: stored } = await payments.listPayments(
        listRequest({ orderId: "ord_1" }),
        ctx,
      );
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({
        status: PaymentStatus.PAYMENT_STATUS_DECLINED,
        declineReason: "card declined",
        refundedAmount: usd(0),
      });
    });

    it("answers a replayed decline with the same FAILED_PRECONDITION and no second row", async () => {
      await failure(charge({ paymentMethod: "tok_chargeDeclined" }));

      const err = await failure(charge({ paymentMethod: "tok_chargeDeclined" }));

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("payment declined: card declined");
      expect(await rowsIn("payments")).toBe(1);
    });
  });

  describe("Refund", () => {
    it("moves a payment to PARTIALLY_REFUNDED, then to REFUNDED when nothing is left", async () => {
      const { paymentId } = await charge({ amount: usd(10) });
      clock = START + 1_000;

      const partial = await refund({ refundId: "ref_a", paymentId, amount: usd(2, 500_000_000) });
      clock = START + 2_000;
      const full = await refund({ refundId: "ref_b", paymentId, amount: usd(7, 500_000_000) });

      expect(partial).toMatchObject({
        status: PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED,
        refundedAmount: usd(2, 500_000_000),
        updateTime: new Date(START + 1_000),
      });
      expect(full).toMatchObject({
        status: PaymentStatus.PAYMENT_STATUS_REFUNDED,
        amount: usd(10),
        refundedAmount: usd(10),
        createTime: new Date(START),
        updateTime: new Date(START + 2_000),
      });
      expect((await payments.getPayment({ paymentId }, ctx)).payment).toEqual(full);
    });

    it("returns the payment to a replayed refund without refunding twice", async () => {
      const { paymentId } = await charge({ amount: usd(10) });
      const first = await refund({ paymentId, amount: usd(3) });

      const again = await refund({ paymentId, amount: usd(3) });

      expect(again).toEqual(first);
      expect(again.refundedAmount).toEqual(usd(3));
      expect(await rowsIn("refunds")).toBe(1);
    });

    it("answers ALREADY_EXISTS to the same refund_id with another amount or payment", async () => {
      const one = await charge({ orderId: "ord_1", amount: usd(10) });
      const two = await charge({ orderId: "ord_2", amount: usd(10) });
      await refund({ paymentId: one.paymentId, amount: usd(3) });

      const otherAmount = await failure(refund({ paymentId: one.paymentId, amount: usd(4) }));
      const otherPayment = await failure(refund({ paymentId: two.paymentId, amount: usd(3) }));

      expect(otherAmount.code).toBe(status.ALREADY_EXISTS);
      expect(otherAmount.message).toBe("refund ref_1 was already made with a different request");
      expect(otherPayment.code).toBe(status.ALREADY_EXISTS);
      expect(await rowsIn("refunds")).toBe(1);
    });

    it("answers FAILED_PRECONDITION to a refund of more than what is left, naming both amounts", async () => {
      const { paymentId } = await charge({ amount: usd(10) });
      await refund({ refundId: "ref_a", paymentId, amount: usd(7) });

      const err = await failure(
        refund({ refundId: "ref_b", paymentId, amount: usd(3, 10_000_000) }),
      );

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe("refund of 3.01 USD exceeds the 3.00 USD left to refund");
      expect((await payments.getPayment({ paymentId }, ctx)).payment?.refundedAmount).toEqual(
        usd(7),
      );
    });

    it("answers FAILED_PRECONDITION to a refund of a declined payment", async () => {
      await failure(charge({ paymentMethod: "tok_chargeDeclined" }));
      const [declined] = (await payments.listPayments(listRequest(), ctx)).payments;

      const err = await failure(refund({ paymentId: declined.paymentId, amount: usd(1) }));

      expect(err.code).toBe(status.FAILED_PRECONDITION);
      expect(err.message).toBe(
        `payment ${declined.paymentId} was declined; there is nothing to refund`,
      );
      expect(await rowsIn("refunds")).toBe(0);
    });

    it("answers INVALID_ARGUMENT on amount.currency_code to a refund in another currency", async () => {
      const { paymentId } = await charge({ amount: usd(10) });

      const err = await failure(
        refund({ paymentId, amount: { currencyCode: "EUR", units: 1, nanos: 0 } }),
      );

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fields(err)).toEqual(["amount.currency_code"]);
      expect(err.message).toBe("amount.currency_code: must be USD, the currency of the payment");
    });

    it("answers NOT_FOUND to a refund of an unknown payment", async () => {
      const err = await failure(refund({ paymentId: "pay_missing", amount: usd(1) }));

      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.message).toBe("payment pay_missing not found");
    });
  });

  describe("GetPayment", () => {
    it("answers NOT_FOUND for an unknown id", async () => {
      const err = await failure(payments.getPayment({ paymentId: "pay_missing" }, ctx));

      expect(err.code).toBe(status.NOT_FOUND);
      expect(err.message).toBe("payment pay_missing not found");
    });
  });

  describe("ListPayments", () => {
    // Three users, each with orders; ids sort by creation only across milliseconds, so the
    // order within a user is checked against the ids themselves.
    const seed = async (): Promise<Payment[]> => {
      const made: Payment[] = [];
      for (let i = 0; i < 7; i++)
        made.push(await charge({ orderId: `ord_${i}`, userId: `usr_${i % 3}` }));
      return made;
    };
    const allPages = async (
      request: ListPaymentsRequest,
    ): Promise<{ ids: string[]; pages: number }> => {
      const ids: string[] = [];
      let pageToken = "";
      let pages = 0;
      do {
        const page = await payments.listPayments({ ...request, pageToken }, ctx);
        ids.push(...page.payments.map((p) => p.paymentId));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== "");
      return { ids, pages };
    };

    it("pages through one user's payments in id order until the last page", async () => {
      const made = await seed();
      const expected = made
        .filter((p) => p.userId === "usr_0")
        .map((p) => p.paymentId)
        .sort();

      const { ids, pages } = await allPages(listRequest({ userId: "usr_0", pageSize: 2 }));

      expect(ids).toEqual(expected);
      expect(expected).toHaveLength(3);
      expect(pages).toBe(2);
    });

    it("pages through every payment when no filter is set", async () => {
      const made = await seed();

      const { ids, pages } = await allPages(listRequest({ pageSize: 3 }));

      expect(ids).toEqual(made.map((p) => p.paymentId).sort());
      expect(pages).toBe(3);
    });

    it("finds the one payment of an order, and none of an order of another user", async () => {
      const made = await seed();

      const ofOrder = await payments.listPayments(listRequest({ orderId: "ord_4" }), ctx);
      const mismatched = await payments.listPayments(
        listRequest({ orderId: "ord_4", userId: "usr_0" }),
        ctx,
      );

      expect(ofOrder.payments).toEqual([made[4]]);
      expect(ofOrder.nextPageToken).toBe("");
      expect(mismatched.payments).toEqual([]);
    });

    it("refuses a page token reused with other filters, naming page_token", async () => {
      await seed();
      const first = await payments.listPayments(listRequest({ userId: "usr_0", pageSize: 1 }), ctx);

      const err = await failure(
        payments.listPayments(
          listRequest({ userId: "usr_1", pageSize: 1, pageToken: first.nextPageToken }),
          ctx,
        ),
      );

      expect(first.nextPageToken).not.toBe("");
      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.message).toBe("page_token: was issued for a request with other filters");
    });
  });

  describe("validation", () => {
    const long = (n: number): string => "x".repeat(n);

    it.each<[string, Partial<ChargeRequest>, string[]]>([
      [
        "an empty request",
        { orderId: "", userId: "", amount: undefined },
        ["order_id", "user_id", "amount"],
      ],
      ["overlong ids", { orderId: long(65), userId: long(65) }, ["order_id", "user_id"]],
      ["a zero amount", { amount: usd(0) }, ["amount"]],
      ["negative units", { amount: usd(-5) }, ["amount.units"]],
      ["negative nanos", { amount: usd(0, -500_000_000) }, ["amount.nanos"]],
      ["nanos that are not whole micros", { amount: usd(1, 1_500) }, ["amount.nanos"]],
      [
        "a lower-case currency",
        { amount: { currencyCode: "usd", units: 1, nanos: 0 } },
        ["amount.currency_code"],
      ],
      ["more than the largest amount", { amount: usd(1_000_000_000, 1_000) }, ["amount"]],
      ["an unknown card", { paymentMethod: "tok_mastercard" }, ["payment_method"]],
    ])("Charge names the field of %s with INVALID_ARGUMENT", async (_, over, expected) => {
      const err = await failure(payments.charge(chargeRequest(over), ctx));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fields(err)).toEqual(expected);
      expect(await rowsIn("payments")).toBe(0);
    });

    it("Charge lists the accepted cards when it refuses one", async () => {
      const err = await failure(payments.charge(chargeRequest({ paymentMethod: "tok_amex" }), ctx));

      expect(err.message).toBe("payment_method: must be one of tok_visa, tok_chargeDeclined");
    });

    it.each<[string, Partial<RefundRequest>, string[]]>([
      [
        "an empty request",
        { refundId: "", paymentId: "", amount: undefined },
        ["refund_id", "payment_id", "amount"],
      ],
      ["overlong ids", { refundId: long(65), paymentId: long(65) }, ["refund_id", "payment_id"]],
      ["a zero amount", { paymentId: "pay_1", amount: usd(0) }, ["amount"]],
      ["negative units", { paymentId: "pay_1", amount: usd(-1) }, ["amount.units"]],
      [
        "nanos that are not whole micros",
        { paymentId: "pay_1", amount: usd(0, 999) },
        ["amount.nanos"],
      ],
      ["an overlong reason", { paymentId: "pay_1", reason: long(501) }, ["reason"]],
    ])("Refund names the field of %s with INVALID_ARGUMENT", async (_, over, expected) => {
      const err = await failure(payments.refund(refundRequest(over), ctx));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fields(err)).toEqual(expected);
    });

    it("Refund accepts a reason of exactly 500 characters", async () => {
      const { paymentId } = await charge();

      const payment = await refund({ paymentId, reason: long(500) });

      expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED);
    });

    it.each([
      ["an empty id", "", "payment_id: is required"],
      ["an overlong id", long(65), "payment_id: must be at most 64 characters"],
    ])("GetPayment refuses %s with INVALID_ARGUMENT", async (_, paymentId, message) => {
      const err = await failure(payments.getPayment({ paymentId }, ctx));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(err.message).toBe(message);
    });

    it.each<[string, Partial<ListPaymentsRequest>, string[]]>([
      ["a huge page size", { pageSize: 1_000_000 }, ["page_size"]],
      ["a negative page size", { pageSize: -1 }, ["page_size"]],
      ["overlong filters", { orderId: long(65), userId: long(65) }, ["order_id", "user_id"]],
      ["a token it did not issue", { pageToken: "%%%" }, ["page_token"]],
      [
        "a bad size and a bad token at once",
        { pageSize: 1001, pageToken: "bm9wZQ" },
        ["page_size", "page_token"],
      ],
    ])("ListPayments names the field of %s with INVALID_ARGUMENT", async (_, over, expected) => {
      const err = await failure(payments.listPayments(listRequest(over), ctx));

      expect(err.code).toBe(status.INVALID_ARGUMENT);
      expect(fields(err)).toEqual(expected);
    });
  });
});
