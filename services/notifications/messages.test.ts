import { NotificationKind } from "../../gen/shop/notifications/v1/notifications";
import { OrderStatus, type Order, type OrderEvent } from "../../gen/shop/orders/v1/orders";
import type { PaymentEvent } from "../../gen/shop/payments/v1/payments";
import { formatMoney, notificationOf, REFUNDED_TITLE, refundNotificationOf } from "./messages";

const AT = new Date("2026-01-02T03:04:05Z");

const order = (overrides: Partial<Order>): Order => ({
  orderId: "ord_1",
  requestId: "req-1",
  userId: "usr_1",
  status: OrderStatus.ORDER_STATUS_CONFIRMED,
  items: [],
  total: undefined,
  paymentId: "",
  rejectionReason: "",
  createTime: AT,
  updateTime: AT,
  ...overrides,
});

const event = (overrides: Partial<OrderEvent>): OrderEvent => ({
  sequence: 7,
  eventId: "evt_7",
  createTime: AT,
  orderId: "ord_1",
  userId: "usr_1",
  ...overrides,
});

describe("notification texts", () => {
  it("formats money with cents always and finer digits only when set", () => {
    expect(formatMoney({ currencyCode: "USD", units: 46, nanos: 500_000_000 })).toBe("46.50 USD");
    expect(formatMoney({ currencyCode: "EUR", units: 0, nanos: 0 })).toBe("0.00 EUR");
    expect(formatMoney({ currencyCode: "EUR", units: 3, nanos: 10_000_000 })).toBe("3.01 EUR");
    expect(formatMoney({ currencyCode: "BHD", units: 1, nanos: 125_000_000 })).toBe("1.125 BHD");
    expect(formatMoney({ currencyCode: "USD", units: -2, nanos: -500_000_000 })).toBe("-2.50 USD");
  });

  it("tells a confirmed order's item count and total", () => {
    const confirmed = event({
      orderConfirmed: {
        order: order({
          items: [
            { sku: "sku-beans", quantity: 2, unitPrice: undefined },
            { sku: "sku-mug", quantity: 1, unitPrice: undefined },
          ],
          total: { currencyCode: "USD", units: 46, nanos: 500_000_000 },
        }),
      },
    });

    expect(notificationOf(confirmed, "ntf_1", AT)).toEqual({
      notificationId: "ntf_1",
      userId: "usr_1",
      orderId: "ord_1",
      kind: NotificationKind.NOTIFICATION_KIND_ORDER_CONFIRMED,
      title: "Your order is confirmed",
      body: "Order ord_1 is confirmed: 3 items, 46.50 USD charged. Thank you!",
      eventId: "evt_7",
      createTime: AT,
    });
  });

  it("tells a rejected order's reason", () => {
    const rejected = event({
      orderRejected: {
        order: order({
          status: OrderStatus.ORDER_STATUS_REJECTED,
          rejectionReason: "not enough stock for sku-kettle: 3 available, 5 requested",
        }),
      },
    });

    const notification = notificationOf(rejected, "ntf_2", AT);

    expect(notification?.kind).toBe(NotificationKind.NOTIFICATION_KIND_ORDER_REJECTED);
    expect(notification?.title).toBe("Your order was not accepted");
    expect(notification?.body).toBe(
      "Order ord_1 was not accepted: not enough stock for sku-kettle: 3 available, 5 requested. " +
        "Nothing was reserved or charged.",
    );
  });

  it("says one item in the singular, and makes nothing of an event of an unknown kind", () => {
    const one = event({
      orderConfirmed: {
        order: order({ items: [{ sku: "a", quantity: 1, unitPrice: undefined }] }),
      },
    });

    expect(notificationOf(one, "ntf_3", AT)?.body).toBe(
      "Order ord_1 is confirmed: 1 item. Thank you!",
    );
    expect(notificationOf(event({}), "ntf_4", AT)).toBeUndefined();
  });

  describe("of payments events", () => {
    const paymentEvent = (overrides: Partial<PaymentEvent>): PaymentEvent => ({
      sequence: 3,
      eventId: "evt_p3",
      createTime: AT,
      paymentId: "pay_1",
      orderId: "ord_9",
      userId: "usr_1",
      ...overrides,
    });

    it("tells a refund's amount and reason", () => {
      const refunded = paymentEvent({
        paymentRefunded: {
          payment: undefined,
          refundId: "ref_1",
          amount: { currencyCode: "EUR", units: 12, nanos: 500_000_000 },
          reason: "damaged in transit.",
        },
      });

      expect(refundNotificationOf(refunded, "ntf_1", AT)).toEqual({
        notificationId: "ntf_1",
        userId: "usr_1",
        orderId: "ord_9",
        eventId: "evt_p3",
        createTime: AT,
        kind: NotificationKind.NOTIFICATION_KIND_PAYMENT_REFUNDED,
        title: REFUNDED_TITLE,
        body: "Your payment for order ord_9 was refunded: 12.50 EUR (damaged in transit).",
      });
    });

    it("makes no notification of a capture, which the order's confirmation already tells", () => {
      const captured = paymentEvent({ paymentCaptured: { payment: undefined } });

      expect(refundNotificationOf(captured, "ntf_1", AT)).toBeUndefined();
    });
  });
});
