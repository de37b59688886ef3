import type { Schema } from "./json-schema";

/**
 * The JSON shapes of the API (proto3 JSON mapping: lowerCamelCase names, enums by name,
 * timestamps as RFC 3339), named in the OpenAPI document's `components.schemas`.
 */
const str = (description?: string): Schema => ({
  type: "string",
  ...(description && { description }),
});
const int = (description?: string): Schema => ({
  type: "integer",
  format: "int32",
  ...(description && { description }),
});
const time: Schema = { type: "string", format: "date-time" };
const obj = (properties: Record<string, Schema>, description?: string): Schema => ({
  type: "object",
  properties,
  ...(description && { description }),
});
/** A reference to one of {@link COMPONENTS}. */
export const ref = (name: keyof typeof COMPONENTS): Schema => ({
  $ref: `#/components/schemas/${name}`,
});

export const COMPONENTS = {
  Money: obj(
    {
      currencyCode: str("ISO 4217, e.g. EUR"),
      units: { type: "integer", format: "int64" },
      nanos: int("Billionths of a unit"),
    },
    "google.type.Money",
  ),
  User: obj({ userId: str(), email: str(), displayName: str(), createTime: time }),
  Product: obj({
    sku: str(),
    name: str(),
    description: str(),
    price: { $ref: "#/components/schemas/Money" },
    available: int(),
    reserved: int(),
    createTime: time,
  }),
  OrderItem: obj({
    sku: str(),
    quantity: int(),
    unitPrice: { $ref: "#/components/schemas/Money" },
  }),
  Order: obj({
    orderId: str(),
    requestId: str("The Idempotency-Key it was placed with"),
    userId: str(),
    status: {
      type: "string",
      enum: ["ORDER_STATUS_PENDING", "ORDER_STATUS_CONFIRMED", "ORDER_STATUS_REJECTED"],
    },
    items: { type: "array", items: { $ref: "#/components/schemas/OrderItem" } },
    total: { $ref: "#/components/schemas/Money" },
    paymentId: str(),
    rejectionReason: str(),
    createTime: time,
    updateTime: time,
  }),
  Notification: obj({
    notificationId: str(),
    userId: str(),
    orderId: str(),
    kind: {
      type: "string",
      enum: ["NOTIFICATION_KIND_ORDER_CONFIRMED", "NOTIFICATION_KIND_ORDER_REJECTED"],
    },
    title: str(),
    body: str(),
    eventId: str(),
    createTime: time,
  }),
  Fault: obj({
    service: str("A mesh service, e.g. payments"),
    method: str('"package.Service/Method" or "package.Service"; every method when absent'),
    delay: obj({ percentage: int(), duration: str('e.g. "200ms"') }),
    abort: obj({ percentage: int(), code: str("A gRPC code name, e.g. UNAVAILABLE") }),
  }),
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "status", "message", "details"],
        properties: {
          code: int("The HTTP status"),
          status: str("The gRPC code name (google/rpc/code.proto)"),
          message: str(),
          details: {
            type: "array",
            items: obj({ "@type": str() }, "e.g. google.rpc.BadRequest with fieldViolations"),
          },
        },
      },
    },
  },
} satisfies Record<string, Schema>;

/** `{ <key>: <item>[], nextPageToken }`: a page of a list. */
export const page = (key: string, item: keyof typeof COMPONENTS): Schema =>
  obj({ [key]: { type: "array", items: ref(item) }, nextPageToken: str("Empty on the last page") });

/** `{ <key>: <item> }`: one resource. */
export const one = (key: string, item: keyof typeof COMPONENTS): Schema =>
  obj({ [key]: ref(item) });

/** Query parameters of every list. */
export const PAGE_QUERY: Record<string, Schema> = {
  pageSize: {
    type: "integer",
    minimum: 0,
    maximum: 1_000,
    description: "Defaults to the service's page size",
  },
  pageToken: { type: "string", description: "nextPageToken of the previous page" },
};

export { str, int, obj };
