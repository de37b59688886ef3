import { Client, credentials } from "@grpc/grpc-js";
import { loadDescriptors } from "./descriptors";
import { resolveMethodPolicy, serviceConfigFor } from "./policy";
import { loadTopology, parseTopology } from "./topology";
import { type PolicyConfig } from "./policy-schema";

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

const INVENTORY = "shop.inventory.v1.InventoryService";
const GET_PRODUCT = `/${INVENTORY}/GetProduct`;
const RESERVE_STOCK = `/${INVENTORY}/ReserveStock`;
const CREATE_PRODUCT = `/${INVENTORY}/CreateProduct`;
const HEDGING = { maxAttempts: 2, delay: "50ms", nonFatalCodes: ["UNAVAILABLE"] };
const OUTLIER_DETECTION = {
  interval: "1s",
  baseEjectionTime: "5s",
  maxEjectionTime: "30s",
  maxEjectionPercent: 50,
  failurePercentage: {
    threshold: 50,
    enforcementPercentage: 100,
    minimumHosts: 2,
    requestVolume: 10,
  },
};

const RETRY = {
  maxAttempts: 3,
  initialBackoff: "50ms",
  maxBackoff: "1.5s",
  backoffMultiplier: 2,
  retryableCodes: ["UNAVAILABLE"],
};

/** A policy parsed from a literal document, as mesh.yaml would give it. */
function policyOf(
  methods: Record<string, unknown> = {},
  maxAttempts = 3,
  more: Record<string, unknown> = {},
): PolicyConfig {
  return parseTopology(
    {
      services: {},
      policy: {
        defaults: {
          timeout: "2s",
          retry: { ...RETRY, maxAttempts },
        },
        retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
        methods,
        ...more,
      },
    },
    "test-topology",
  ).policy;
}

interface MethodConfig {
  name: { service: string; method: string }[];
  retryPolicy?: Record<string, unknown>;
  hedgingPolicy?: Record<string, unknown>;
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

  describe("resolveMethodPolicy and hedging", () => {
    it("hedges a NO_SIDE_EFFECTS method whose policy has hedging, instead of retrying it", () => {
      const policy = resolveMethodPolicy(
        policyOf({ [`${INVENTORY}/GetProduct`]: { hedging: HEDGING } }),
        GET_PRODUCT,
        descriptors,
      );

      expect(policy.hedging).toEqual({ maxAttempts: 2, delay: 50, nonFatalCodes: ["UNAVAILABLE"] });
      expect(policy.retry).toBeUndefined();
    });

    it("takes hedging from the method's entry, else the service's, else the defaults", () => {
      const fromDefaults = parseTopology(
        {
          services: {},
          policy: {
            defaults: { timeout: "2s", retry: RETRY, hedging: HEDGING },
            retryThrottling: { maxTokens: 10, tokenRatio: 0.1 },
            methods: {
              [INVENTORY]: { hedging: { ...HEDGING, maxAttempts: 3 } },
              [`${INVENTORY}/GetProduct`]: { hedging: { ...HEDGING, maxAttempts: 4 } },
            },
          },
        },
        "test-topology",
      ).policy;

      const hedgedAttempts = (path: string) =>
        resolveMethodPolicy(fromDefaults, path, descriptors).hedging?.maxAttempts;

      expect(hedgedAttempts(GET_PRODUCT)).toBe(4);
      expect(hedgedAttempts(`/${INVENTORY}/ListProducts`)).toBe(3);
      expect(hedgedAttempts(GET_USER)).toBe(2);
    });

    it("never hedges an IDEMPOTENT method, which keeps its retries", () => {
      const policy = resolveMethodPolicy(
        policyOf({ [INVENTORY]: { hedging: HEDGING } }),
        RESERVE_STOCK,
        descriptors,
      );

      expect(policy.hedging).toBeUndefined();
      expect(policy.retry).toBeDefined();
    });

    it("never hedges a method whose contract does not say it may be repeated", () => {
      const policy = resolveMethodPolicy(
        policyOf({ [`${INVENTORY}/CreateProduct`]: { hedging: HEDGING } }),
        CREATE_PRODUCT,
        descriptors,
      );

      expect(policy).toEqual({ timeoutMs: 2_000, retry: undefined, hedging: undefined });
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

    it("gives hedged methods a hedgingPolicy and no retryPolicy, with the delay in seconds", () => {
      const config = serviceConfigFor(
        INVENTORY,
        policyOf({ [INVENTORY]: { hedging: HEDGING } }),
        descriptors,
      ) as ServiceConfig;
      const byMethod = new Map(config.methodConfig.map((m) => [m.name[0].method, m]));

      for (const read of ["GetProduct", "ListProducts", "GetReservation"]) {
        expect(byMethod.get(read)).toEqual({
          name: [{ service: INVENTORY, method: read }],
          hedgingPolicy: {
            maxAttempts: 2,
            hedgingDelay: "0.05s",
            nonFatalStatusCodes: ["UNAVAILABLE"],
          },
        });
      }
      for (const write of ["ReserveStock", "ReleaseStock"]) {
        expect(byMethod.get(write)?.retryPolicy).toBeDefined();
        expect(byMethod.get(write)?.hedgingPolicy).toBeUndefined();
      }
      expect(byMethod.has("CreateProduct")).toBe(false);
    });

    it("balances with grpc-js's round robin unless given another load-balancing config", () => {
      const policy = policyOf({}, 3, { outlierDetection: OUTLIER_DETECTION });
      const plain = serviceConfigFor(USERS, policy, descriptors) as ServiceConfig;
      const given = serviceConfigFor(USERS, policy, descriptors, {
        pick_first: {},
      }) as ServiceConfig;

      // Outlier ejection is the mesh balancer's (client/balancer.ts), which peers pass in.
      expect(plain.loadBalancingConfig).toEqual([{ round_robin: {} }]);
      expect(given.loadBalancingConfig).toEqual([{ pick_first: {} }]);
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
