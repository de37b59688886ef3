import {
  ListNotificationsRequest,
  ListNotificationsResponse,
  NotificationServiceService,
} from "../../gen/shop/notifications/v1/notifications";
import {
  GetProductResponse,
  InventoryServiceService,
  ListProductsRequest,
  ListProductsResponse,
} from "../../gen/shop/inventory/v1/inventory";
import {
  GetOrderResponse,
  ListOrdersRequest,
  ListOrdersResponse,
  OrderServiceService,
  PlaceOrderRequest,
  PlaceOrderResponse,
} from "../../gen/shop/orders/v1/orders";
import {
  CreateUserRequest,
  CreateUserResponse,
  GetUserResponse,
  ListUsersRequest,
  ListUsersResponse,
  UserServiceService,
} from "../../gen/shop/users/v1/users";
import { AuthServiceService, LoginRequest, LoginResponse } from "../../gen/shop/users/v1/auth";
import type { GatewayPeers } from "./peers";
import type { Route } from "./route";
import type { RpcInvoker } from "./rpc";
import { one, page, PAGE_QUERY } from "./schemas";

/** What the shop's routes call. */
export interface ShopRoutesOptions {
  peers: GatewayPeers;
  invoke: RpcInvoker;
}

// Ids are short printable tokens; the services check their exact form.
const ID: { type: "string"; minLength: number; maxLength: number } = {
  type: "string",
  minLength: 1,
  maxLength: 128,
};
// The orders service keeps request ids up to this length (services/orders/service.ts).
const MAX_IDEMPOTENCY_KEY = 128;

/** The REST routes over users, inventory, orders and notifications. */
export function shopRoutes({ peers, invoke }: ShopRoutesOptions): Route[] {
  const { users, auth, inventory, orders, notifications } = peers;
  const A = AuthServiceService;
  const U = UserServiceService;
  const I = InventoryServiceService;
  const O = OrderServiceService;
  return [
    {
      method: "POST",
      path: "/api/login",
      operationId: "login",
      summary:
        "Exchanges an email and password for an access token (AuthService/Login); send it as " +
        "`Authorization: Bearer <accessToken>` on the user's orders and notifications.",
      tag: "users",
      body: {
        type: "object",
        properties: {
          email: { type: "string", minLength: 1 },
          password: { type: "string", minLength: 1 },
        },
        required: ["email", "password"],
        additionalProperties: false,
      },
      response: {
        description: "The token and the user it speaks for",
        schema: {
          type: "object",
          properties: {
            accessToken: { type: "string" },
            tokenType: { type: "string" },
            expireTime: { type: "string", format: "date-time" },
            userId: { type: "string" },
          },
        },
      },
      errors: [401],
      handle: async ({ body, scope }) =>
        LoginResponse.toJSON(
          await invoke(scope, "users", A.login.path, (o) =>
            auth.login(LoginRequest.fromJSON(body), o),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/users",
      operationId: "listUsers",
      summary: "Lists users, oldest first, a page at a time (UserService/ListUsers).",
      tag: "users",
      query: PAGE_QUERY,
      response: { description: "A page of users", schema: page("users", "User") },
      errors: [],
      handle: async ({ query, scope }) =>
        ListUsersResponse.toJSON(
          await invoke(scope, "users", U.listUsers.path, (o) =>
            users.listUsers(ListUsersRequest.fromJSON(query), o),
          ),
        ),
    },
    {
      method: "POST",
      path: "/api/users",
      operationId: "createUser",
      summary: "Creates a user (UserService/CreateUser).",
      tag: "users",
      body: {
        type: "object",
        properties: {
          email: { type: "string", minLength: 1 },
          displayName: { type: "string", minLength: 1 },
          password: { type: "string", minLength: 8, maxLength: 128 },
        },
        required: ["email", "displayName"],
        additionalProperties: false,
      },
      response: { status: 201, description: "The new user", schema: one("user", "User") },
      errors: [409],
      handle: async ({ body, scope }) =>
        CreateUserResponse.toJSON(
          await invoke(scope, "users", U.createUser.path, (o) =>
            users.createUser(CreateUserRequest.fromJSON(body), o),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/users/{userId}",
      operationId: "getUser",
      summary: "One user (UserService/GetUser).",
      tag: "users",
      params: { userId: ID },
      response: { description: "The user", schema: one("user", "User") },
      errors: [404],
      handle: async ({ params, scope }) =>
        GetUserResponse.toJSON(
          await invoke(scope, "users", U.getUser.path, (o) =>
            users.getUser({ userId: params.userId }, o),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/users/{userId}/notifications",
      operationId: "listNotifications",
      summary: "A user's notifications, newest first (NotificationService/ListNotifications).",
      tag: "notifications",
      params: { userId: ID },
      query: PAGE_QUERY,
      response: {
        description: "A page of notifications",
        schema: page("notifications", "Notification"),
      },
      errors: [],
      handle: async ({ params, query, scope }) =>
        ListNotificationsResponse.toJSON(
          await invoke(
            scope,
            "notifications",
            NotificationServiceService.listNotifications.path,
            (o) =>
              notifications.listNotifications(
                ListNotificationsRequest.fromJSON({ ...query, userId: params.userId }),
                o,
              ),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/products",
      operationId: "listProducts",
      summary: "Lists products with their stock (InventoryService/ListProducts).",
      tag: "products",
      query: PAGE_QUERY,
      response: { description: "A page of products", schema: page("products", "Product") },
      errors: [],
      handle: async ({ query, scope }) =>
        ListProductsResponse.toJSON(
          await invoke(scope, "inventory", I.listProducts.path, (o) =>
            inventory.listProducts(ListProductsRequest.fromJSON(query), o),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/products/{sku}",
      operationId: "getProduct",
      summary: "One product by SKU (InventoryService/GetProduct).",
      tag: "products",
      params: { sku: ID },
      response: { description: "The product", schema: one("product", "Product") },
      errors: [404],
      handle: async ({ params, scope }) =>
        GetProductResponse.toJSON(
          await invoke(scope, "inventory", I.getProduct.path, (o) =>
            inventory.getProduct({ sku: params.sku }, o),
          ),
        ),
    },
    {
      method: "POST",
      path: "/api/orders",
      operationId: "placeOrder",
      summary:
        "Places an order (OrderService/PlaceOrder). The Idempotency-Key is the order's request_id, " +
        "scoped to the user: the same key again answers the same order; the same key with a " +
        "different body is a 409; another user's same key is their own order.",
      tag: "orders",
      headers: {
        "idempotency-key": {
          description: "Unique per order attempt; retry with the same key",
          required: true,
          schema: { type: "string", minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY },
        },
      },
      body: {
        type: "object",
        properties: {
          userId: { type: "string", minLength: 1 },
          items: {
            type: "array",
            minItems: 1,
            items: {
              type: "object",
              properties: {
                sku: { type: "string", minLength: 1 },
                quantity: { type: "integer", minimum: 1 },
              },
              required: ["sku", "quantity"],
              additionalProperties: false,
            },
          },
          paymentMethod: {
            type: "string",
            description: "A test card token; empty for the default",
          },
        },
        required: ["userId", "items"],
        additionalProperties: false,
      },
      response: {
        description: "The order, CONFIRMED (or PENDING while it finishes)",
        schema: one("order", "Order"),
      },
      errors: [400, 404, 409],
      handle: async ({ headers, body, scope }) => {
        const request = PlaceOrderRequest.fromJSON({
          ...(body as object),
          requestId: headers["idempotency-key"],
        });
        return PlaceOrderResponse.toJSON(
          await invoke(scope, "orders", O.placeOrder.path, (o) => orders.placeOrder(request, o)),
        );
      },
    },
    {
      method: "GET",
      path: "/api/orders",
      operationId: "listOrders",
      summary: "A user's orders, newest first (OrderService/ListOrders).",
      tag: "orders",
      query: { userId: { ...ID, description: "Whose orders" }, ...PAGE_QUERY },
      requiredQuery: ["userId"],
      response: { description: "A page of orders", schema: page("orders", "Order") },
      errors: [],
      handle: async ({ query, scope }) =>
        ListOrdersResponse.toJSON(
          await invoke(scope, "orders", O.listOrders.path, (o) =>
            orders.listOrders(ListOrdersRequest.fromJSON(query), o),
          ),
        ),
    },
    {
      method: "GET",
      path: "/api/orders/{orderId}",
      operationId: "getOrder",
      summary: "One order (OrderService/GetOrder).",
      tag: "orders",
      params: { orderId: ID },
      response: { description: "The order", schema: one("order", "Order") },
      errors: [404],
      handle: async ({ params, scope }) =>
        GetOrderResponse.toJSON(
          await invoke(scope, "orders", O.getOrder.path, (o) =>
            orders.getOrder({ orderId: params.orderId }, o),
          ),
        ),
    },
  ];
}
