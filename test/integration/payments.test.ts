import { status } from "@grpc/grpc-js";
import { PaymentServiceService, PaymentStatus } from "../../gen/shop/payments/v1/payments";
import { createPeer, openStore, silentLogger, type Peer, type Store } from "../../mesh";
import { migrations } from "../../services/payments/migrations";
import { createPaymentsService } from "../../services/payments/service";
import { createPaymentsStore } from "../../services/payments/store";
import { projectPolicy, rejectionOf, startTestServer, type TestServer } from "../support";

describe("payments over gRPC", () => {
  let store: Store;
  let server: TestServer;
  let payments: Peer<typeof PaymentServiceService>;

  beforeAll(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    server = await startTestServer((s) =>
      s.addService(
        PaymentServiceService,
        createPaymentsService({ store: createPaymentsStore(store) }),
      ),
    );
    payments = createPeer(PaymentServiceService, {
      target: server.address,
      policy: projectPolicy(),
    });
  });
  afterAll(async () => {
    payments.close();
    await server.close();
    await store.close();
  });

  it("charges, gets and refunds a payment with its Money intact", async () => {
    const amount = { currencyCode: "EUR", units: 1234, nanos: 560_000_000 };
    const { payment } = await payments.charge({
      orderId: "ord_grpc_1",
      userId: "usr_1",
      amount,
      paymentMethod: "tok_visa",
    });

    const got = await payments.getPayment({ paymentId: payment!.paymentId });
    const refunded = await payments.refund({
      refundId: "ref_grpc_1",
      paymentId: payment!.paymentId,
      amount: { currencyCode: "EUR", units: 0, nanos: 10_000 },
      reason: "one item came broken",
    });

    expect(payment).toMatchObject({ amount, status: PaymentStatus.PAYMENT_STATUS_CAPTURED });
    expect(payment!.createTime).toBeInstanceOf(Date);
    expect(got.payment).toEqual(payment);
    expect(refunded.payment).toMatchObject({
      paymentId: payment!.paymentId,
      amount,
      refundedAmount: { currencyCode: "EUR", units: 0, nanos: 10_000 },
      status: PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED,
    });
  });

  it("answers FAILED_PRECONDITION to a declined card", async () => {
    const err = await rejectionOf(
      payments.charge({
        orderId: "ord_grpc_2",
        userId: "usr_1",
        amount: { currencyCode: "USD", units: 5, nanos: 0 },
        paymentMethod: "tok_chargeDeclined",
      }),
    );

    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect(err.details).toBe("payment declined: card declined");
  });

  it("answers INVALID_ARGUMENT naming the field of a bad amount", async () => {
    const err = await rejectionOf(
      payments.charge({
        orderId: "ord_grpc_3",
        userId: "usr_1",
        amount: { currencyCode: "USD", units: 0, nanos: 0 },
        paymentMethod: "",
      }),
    );

    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toBe("amount: must be more than zero");
  });
});
