import { Client, credentials } from "@grpc/grpc-js";
import { loadDescriptors } from "./descriptors";
import { resolveMethodPolicy, serviceConfigFor } from "./policy";
import { loadTopology, parseTopology, type PolicyConfig } from "./topology";

const descriptors = loadDescriptors();
const USERS = "shop.users.v1.UserService";
const GET_USER = `/${USERS}/GetUser`;
const LIST_USERS = `/${USERS}/ListUsers`;
const CREATE_USER = `/${USERS}/CreateUser`;
const SHOP_SERVICES = [
  USERS,
  "shop.inventory.v1.InventoryService",
  "shop.payments.v1.PaymentService",
  "shop.orders.v1.OrderService",
];

/** A policy parsed from a literal document, as mesh.yaml would give it. */
function policyOf(methods: Record<string, unknown> = {}, maxAttempts = 3): PolicyConfig {
  return parseTopology(
    {
      services: {},
      policy: {
        defaults: {
          timeout: "2s",
          retry: {
            maxAttempts,
            initialBackoff: "50ms",
            maxBackoff: "1.5s",
            backoffMultiplier: 2,
            retryableCodes: ["UNAVAILABLE"],
          },
        },
        retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
        methods,
      },
    },
    "test-topology",
  ).policy;
}

interface MethodConfig {
  name: { service: string; method: string }[];
  retryPolicy: Record<string, unknown>;
}
interface ServiceConfig {
  loadBalancingConfig: unknown[];
  methodConfig: MethodConfig[];
  retryThrottling: unknown;
}

describe("policy", () => {
  describe("resolveMethodPolicy", () => {
    it("uses the defaults when nothing names the method or its service", () => {
      const policy = resolveMethodPolicy(policyOf(), GET_USER, descriptors);

      expect(policy).toEqual({
        timeoutMs: 2_000,
        retry: {
          maxAttempts: 3,
          initialBackoff: 50,
          maxBackoff: 1_500,
          backoffMultiplier: 2,
          retryableCodes: ["UNAVAILABLE"],
        },
      });
    });

    it("prefers the method's entry to the service's, and the service's to the defaults", () => {
      const policy = policyOf({
        [USERS]: { timeout: "1s", retry: { maxAttempts: 4, initialBackoff: "20ms" } },
        [`${USERS}/GetUser`]: { timeout: "300ms", retry: { maxAttempts: 2 } },
      });

      const getUser = resolveMethodPolicy(policy, GET_USER, descriptors);
      const listUsers = resolveMethodPolicy(policy, LIST_USERS, descriptors);

      expect(getUser.timeoutMs).toBe(300);
      // Retry fields merge one by one: the method's, else the service's, else the defaults'.
      expect(getUser.retry).toMatchObject({
        maxAttempts: 2,
        initialBackoff: 20,
        maxBackoff: 1_500,
      });
      expect(listUsers.timeoutMs).toBe(1_000);
      expect(listUsers.retry).toMatchObject({
        maxAttempts: 4,
        initialBackoff: 20,
        maxBackoff: 1_500,
      });
    });

    it("never retries a method whose contract does not say it may be repeated", () => {
      const policy = policyOf({ [`${USERS}/CreateUser`]: { retry: { maxAttempts: 5 } } });

      const createUser = resolveMethodPolicy(policy, CREATE_USER, descriptors);

      expect(createUser).toEqual({ timeoutMs: 2_000, retry: undefined });
    });

    it("retries IDEMPOTENT methods as well as NO_SIDE_EFFECTS ones", () => {
      expect(
        resolveMethodPolicy(policyOf(), "/shop.payments.v1.PaymentService/Charge", descriptors)
          .retry,
      ).toBeDefined();
      expect(
        resolveMethodPolicy(policyOf(), "/shop.payments.v1.PaymentService/GetPayment", descriptors)
          .retry,
      ).toBeDefined();
    });

    it("turns retries off with maxAttempts 1", () => {
      expect(resolveMethodPolicy(policyOf({}, 1), GET_USER, descriptors).retry).toBeUndefined();
      expect(
        resolveMethodPolicy(
          policyOf({ [`${USERS}/GetUser`]: { retry: { maxAttempts: 1 } } }),
          GET_USER,
          descriptors,
        ).retry,
      ).toBeUndefined();
    });
  });

  describe("serviceConfigFor", () => {
    it("is a service config that grpc-js accepts", () => {
      const config = JSON.stringify(serviceConfigFor(USERS, policyOf(), descriptors));

      expect(() =>
        new Client("127.0.0.1:1", credentials.createInsecure(), {
          "grpc.service_config": config,
        }).close(),
      ).not.toThrow();
    });

    it("would be refused by grpc-js if it were invalid, so the test above means something", () => {
      const invalid = JSON.stringify({
        methodConfig: [{ name: [{ service: USERS }], retryPolicy: { maxAttempts: 3 } }],
      });

      expect(
        () =>
          new Client("127.0.0.1:1", credentials.createInsecure(), {
            "grpc.service_config": invalid,
          }),
      ).toThrow(/retry policy/);
    });

    it("lists retry policies only for the methods that may be retried, with durations as seconds", () => {
      const config = serviceConfigFor(USERS, policyOf(), descriptors) as ServiceConfig;

      expect(config.methodConfig.map((m) => m.name)).toEqual([
        [{ service: USERS, method: "GetUser" }],
        [{ service: USERS, method: "ListUsers" }],
      ]);
      expect(config.methodConfig[0].retryPolicy).toEqual({
        maxAttempts: 3,
        initialBackoff: "0.05s",
        maxBackoff: "1.5s",
        backoffMultiplier: 2,
        retryableStatusCodes: ["UNAVAILABLE"],
      });
    });

    it("balances round-robin and throttles retries as the policy says", () => {
      const config = serviceConfigFor(USERS, policyOf(), descriptors) as ServiceConfig;

      expect(config.loadBalancingConfig).toEqual([{ round_robin: {} }]);
      expect(config.retryThrottling).toEqual({ maxTokens: 10, tokenRatio: 0.1 });
    });

    it("has no retry policies when retries are off", () => {
      expect(
        (serviceConfigFor(USERS, policyOf({}, 1), descriptors) as ServiceConfig).methodConfig,
      ).toEqual([]);
    });

    it("is accepted by grpc-js for every shop service under the project's mesh.yaml", () => {
      const { policy } = loadTopology({});

      for (const service of SHOP_SERVICES) {
        const config = JSON.stringify(serviceConfigFor(service, policy, descriptors));
        expect(() =>
          new Client("127.0.0.1:1", credentials.createInsecure(), {
            "grpc.service_config": config,
          }).close(),
        ).not.toThrow();
      }
    });
  });
});
