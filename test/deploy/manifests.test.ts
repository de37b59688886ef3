/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment,
   @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-explicit-any --
   these tests assert on objects parsed from YAML, typed only by the schemas they are checked against. */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { parse as parseYaml } from "yaml";
import { loadDescriptors, loadTopology, parseTopology, projectRoot } from "../../mesh/config";
import { K8S_DIR, workloads } from "../../scripts/deploy/cluster";
import { kubectlProblem, kustomize, type K8sObject } from "../../scripts/deploy/kubectl";
import { databaseSecret } from "../../scripts/deploy/production";
import { referenceProblems, schemaProblems } from "../../scripts/deploy/validate";
import { toolAvailable } from "../external-tools";

const run = promisify(execFile);
const root = projectRoot();
/** Every kustomization of deploy/k8s: the base and each overlay, by folder name. */
const KUSTOMIZATIONS = new Map([
  ["base", join(root, K8S_DIR, "base")],
  ...readdirSync(join(root, K8S_DIR, "overlays")).map(
    (o) => [o, join(root, K8S_DIR, "overlays", o)] as const,
  ),
]);
const OVERLAYS = [...KUSTOMIZATIONS.keys()];
const BUILD_TIMEOUT_MS = 60_000;
const all = workloads(loadTopology({}), loadDescriptors());
const stores = all.filter((w) => w.protocol === "grpc").map((w) => w.name);
/** The PostgreSQL URLs: Secrets an operator creates before applying (docs/SCALING.md). */
const externalSecrets = stores.map(databaseSecret);

// The real kustomize, as `kubectl apply -k` runs it; missing under CI fails.
const kubectlMissing = kubectlProblem();
const kubectlReady = toolAvailable(
  kubectlMissing === undefined,
  `kubectl with kustomize v5 (${kubectlMissing})`,
  {
    install:
      "install kubectl 1.27 or later (Debian: the google-cloud-cli package's kubectl, or the " +
      "Kubernetes apt repository), or point KUBECTL at one",
  },
);
const withKubectl = kubectlReady ? describe : describe.skip;

const built = new Map<string, K8sObject[]>();
if (kubectlReady) {
  beforeAll(async () => {
    for (const [name, dir] of KUSTOMIZATIONS) built.set(name, await kustomize(dir));
  }, BUILD_TIMEOUT_MS);
}
const objectsOf = (overlay: string): K8sObject[] => built.get(overlay)!;
const find = (overlay: string, kind: string, name: string): K8sObject => {
  const found = objectsOf(overlay).find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`${overlay}: no ${kind}/${name}`);
  return found;
};
type Json = Record<string, any>;
const container = (overlay: string, name: string): Json =>
  (find(overlay, "Deployment", name) as Json).spec.template.spec.containers[0];
const envOf = (overlay: string, name: string): Record<string, unknown> =>
  Object.fromEntries(
    (container(overlay, name).env as Json[]).map((e) => [e.name, e.value ?? e.valueFrom]),
  );

/** (from → to:port) pairs the NetworkPolicies of an overlay allow between workloads. */
function allowedCalls(objects: K8sObject[]): string[] {
  const edges: string[] = [];
  for (const p of objects.filter((o) => o.kind === "NetworkPolicy") as Json[]) {
    const to = p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"];
    for (const rule of p.spec.ingress ?? []) {
      for (const from of rule.from ?? []) {
        const name = from.podSelector?.matchLabels?.["app.kubernetes.io/name"];
        if (name && !from.namespaceSelector) {
          for (const port of rule.ports) edges.push(`${name}→${to}:${port.port}`);
        }
      }
    }
  }
  return edges.sort();
}

describe("deploy/k8s", () => {
  it("has a base and the dev, production, mesh-istio and mesh-linkerd overlays", () => {
    expect(OVERLAYS.sort()).toEqual(["base", "dev", "mesh-istio", "mesh-linkerd", "production"]);
  });

  // A child process: prettier 3 (which formats the output) loads through import(), which jest's
  // CommonJS sandbox does not allow.
  it("is exactly what mesh.yaml and proto/ generate (npm run deploy:generate)", async () => {
    const tsNode = join(root, "node_modules/ts-node/dist/bin.js");
    const script = join(root, "scripts/deploy/generate.ts");
    const { stdout } = await run(
      process.execPath,
      [tsNode, "--transpile-only", script, "--check"],
      {
        cwd: root,
      },
    );
    expect(stdout).toBe("");
  }, 60_000);

  withKubectl.each(OVERLAYS)("kubectl kustomize %s", (overlay) => {
    it("validates every object against its schema", () => {
      const objects = objectsOf(overlay);
      expect(objects.length).toBeGreaterThan(40);
      expect(objects.flatMap(schemaProblems)).toEqual([]);
    });

    it("has no dangling reference: selectors, ports, probes, ConfigMaps, Secrets, targets", () => {
      expect(referenceProblems(objectsOf(overlay), { externalSecrets })).toEqual([]);
    });

    it("lets pods call exactly the call graph of mesh.yaml and the gateway", () => {
      const expected = all
        .flatMap((w) =>
          w.dependsOn.map((peer) => `${w.name}→${peer}:${all.find((p) => p.name === peer)!.port}`),
        )
        .sort();
      expect(expected).toEqual(
        expect.arrayContaining([
          "orders→users:50051",
          "notifications→orders:50054",
          "gateway→inventory:50052",
        ]),
      );
      expect(allowedCalls(objectsOf(overlay))).toEqual(expected);
    });

    it("runs every container non-root, read-only, without capabilities, within limits", () => {
      for (const w of all) {
        const c = container(overlay, w.name);
        expect(c.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ["ALL"] },
        });
        expect(c.resources.limits).toEqual(expect.objectContaining({ memory: expect.any(String) }));
      }
    });
  });

  withKubectl("as kubectl kustomize builds the overlays", () => {
    it("dev: SQLite on a ReadWriteOnce claim per service, one replica, Recreate", () => {
      for (const name of stores) {
        const d = find("dev", "Deployment", name) as Json;
        expect(d.spec.replicas).toBe(1);
        expect(d.spec.strategy.type).toBe("Recreate");
        expect(find("dev", "PersistentVolumeClaim", `${name}-data`)).toBeDefined();
        expect(container("dev", name).imagePullPolicy).toBe("Never");
        expect(container("dev", name).image).toBe(`grpc-shop-mesh/${name}:dev`);
      }
      expect(objectsOf("dev").some((o) => o.kind === "HorizontalPodAutoscaler")).toBe(false);
    });

    it("dev: peers are dialled through their headless Service, for round robin over pods", () => {
      expect(envOf("dev", "orders")).toMatchObject({
        USERS_TARGET: "dns:///users-headless.shop.svc.cluster.local:50051",
        INVENTORY_TARGET: "dns:///inventory-headless.shop.svc.cluster.local:50052",
        PAYMENTS_TARGET: "dns:///payments-headless.shop.svc.cluster.local:50053",
      });
      expect((find("dev", "Service", "users-headless") as Json).spec.clusterIP).toBe("None");
    });

    it("production: PostgreSQL from a Secret, NATS for events, 2+ replicas, autoscaled, no claims", () => {
      for (const name of stores) {
        expect(envOf("production", name).DATABASE_URL).toEqual({
          secretKeyRef: { name: `${name}-database`, key: "url" },
        });
        const d = find("production", "Deployment", name) as Json;
        expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
        expect(d.spec.template.spec.volumes.find((v: Json) => v.name === "data")).toEqual({
          name: "data",
          emptyDir: { sizeLimit: "256Mi" },
        });
        expect((find("production", "HorizontalPodAutoscaler", name) as Json).spec.minReplicas).toBe(
          2,
        );
      }
      expect(objectsOf("production").some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
      // The event transport is mesh-wide: producers (orders, payments) and consumers alike.
      for (const name of stores) {
        expect(envOf("production", name)).toMatchObject({ EVENTS_TRANSPORT: "nats" });
      }
      expect(envOf("production", "gateway").EVENTS_TRANSPORT).toBeUndefined();
    });

    describe.each(["istio", "linkerd"])("mesh-%s", (mesh) => {
      const overlay = `mesh-${mesh}`;

      it("switches the services to plaintext and dials peers by ClusterIP, for the sidecar", () => {
        for (const w of all) expect(envOf(overlay, w.name).MESH_PLAINTEXT).toBe("1");
        expect(envOf(overlay, "orders").USERS_TARGET).toBe(
          "dns:///users.shop.svc.cluster.local:50051",
        );
        expect(objectsOf(overlay).some((o) => o.apiVersion.startsWith("cert-manager.io"))).toBe(
          false,
        );
      });

      it("hands retries, hedging, ejection and the breaker over: its topology still loads", () => {
        const text = (find(overlay, "ConfigMap", "mesh-topology") as Json).data[
          "mesh.yaml"
        ] as string;
        const topology = parseTopology(parseYaml(text), `${overlay}/mesh.yaml`);
        expect(topology.policy.defaults.retry.maxAttempts).toBe(1);
        expect(topology.policy.outlierDetection).toBeUndefined();
        expect(topology.policy.circuitBreaker).toBeUndefined();
        expect(Object.values(topology.policy.methods).some((m) => m.hedging || m.retry)).toBe(
          false,
        );
        // Deadlines stay in-process: they travel with each call.
        expect(topology.policy.methods["shop.orders.v1.OrderService/PlaceOrder"].timeout).toBe(
          10_000,
        );
      });
    });

    it("mesh-istio: STRICT mTLS, default deny, and the policy file as routes and rules", () => {
      expect((find("mesh-istio", "PeerAuthentication", "default") as Json).spec.mtls.mode).toBe(
        "STRICT",
      );
      expect(
        (find("mesh-istio", "Namespace", "shop") as Json).metadata.labels["istio-injection"],
      ).toBe("enabled");
      const routes = (name: string) =>
        Object.fromEntries(
          ((find("mesh-istio", "VirtualService", name) as Json).spec.http as Json[]).map((r) => [
            r.match[0].uri.exact,
            r,
          ]),
        );
      const orders = routes("orders");
      expect(orders["/shop.orders.v1.OrderService/PlaceOrder"]).toMatchObject({
        timeout: "10s",
        retries: { attempts: 2, retryOn: "unavailable,resource-exhausted" },
      });
      expect(orders["/shop.orders.v1.OrderService/StreamEvents"]).toMatchObject({
        timeout: "0s",
        retries: { attempts: 0 },
      });
      expect(routes("users")["/shop.users.v1.UserService/CreateUser"].retries).toEqual({
        attempts: 0,
      });
      // The hedged read becomes a retry on its non-fatal codes.
      expect(routes("inventory")["/shop.inventory.v1.InventoryService/GetProduct"].retries).toEqual(
        {
          attempts: 1,
          retryOn: "unavailable",
        },
      );
      expect(
        (find("mesh-istio", "DestinationRule", "inventory") as Json).spec.trafficPolicy
          .outlierDetection,
      ).toEqual({
        consecutive5xxErrors: 5,
        interval: "500ms",
        baseEjectionTime: "5s",
        maxEjectionPercent: 50,
      });
      // One rule per set of callers security.allow names: only orders may charge, only
      // notifications may read the event stream, and nobody else gets a rule.
      const rules = (find("mesh-istio", "AuthorizationPolicy", "payments") as Json).spec.rules as {
        from?: { source: { principals: string[] } }[];
        to: { operation: { paths?: string[] } }[];
      }[];
      const pathsOf = (sa: string) =>
        rules
          .filter((r) => r.from?.[0].source.principals?.includes(`cluster.local/ns/shop/sa/${sa}`))
          .flatMap((r) => r.to[0].operation.paths ?? []);
      expect(pathsOf("orders").sort()).toEqual([
        "/shop.payments.v1.PaymentService/Charge",
        "/shop.payments.v1.PaymentService/Refund",
      ]);
      expect(pathsOf("notifications").sort()).toEqual([
        "/shop.payments.v1.PaymentService/AckEvents",
        "/shop.payments.v1.PaymentService/StreamEvents",
      ]);
      expect(pathsOf("gateway")).toEqual([]);
    });

    it("mesh-linkerd: default deny, callers by identity, timeouts and retries per method", () => {
      const ns = find("mesh-linkerd", "Namespace", "shop") as Json;
      expect(ns.metadata.annotations["config.linkerd.io/default-inbound-policy"]).toBe("deny");
      // Per method, as security.allow says: the gateway places orders, notifications reads the
      // event stream, and neither may do the other's.
      const route = (name: string) =>
        (find("mesh-linkerd", "HTTPRoute", name) as Json).spec.rules[0].matches.map(
          (m: { path: { value: string } }) => m.path.value,
        );
      expect(
        (find("mesh-linkerd", "MeshTLSAuthentication", "orders-from-gateway") as Json).spec
          .identityRefs,
      ).toEqual([{ kind: "ServiceAccount", name: "gateway" }]);
      expect(route("orders-from-gateway")).toContain("/shop.orders.v1.OrderService/PlaceOrder");
      expect(route("orders-from-gateway")).not.toContain(
        "/shop.orders.v1.OrderService/StreamEvents",
      );
      expect(route("orders-from-notifications").sort()).toEqual([
        "/shop.orders.v1.OrderService/AckEvents",
        "/shop.orders.v1.OrderService/StreamEvents",
      ]);
      expect(route("payments-from-orders").sort()).toEqual([
        "/shop.payments.v1.PaymentService/Charge",
        "/shop.payments.v1.PaymentService/Refund",
      ]);
      expect(find("mesh-linkerd", "GRPCRoute", "orders-placeorder").metadata.annotations).toEqual({
        "timeout.linkerd.io/request": "10s",
        "retry.linkerd.io/grpc": "unavailable,resource-exhausted",
        "retry.linkerd.io/limit": "2",
      });
      expect(
        (find("mesh-linkerd", "Service", "payments") as Json).metadata.annotations,
      ).toMatchObject({
        "balancer.linkerd.io/failure-accrual": "consecutive",
        "balancer.linkerd.io/failure-accrual-consecutive-max-failures": "5",
      });
    });

    it("fails with kustomize's own message on a patch it cannot parse", async () => {
      const dir = mkdtempSync(join(tmpdir(), "kustomize-"));
      try {
        writeFileSync(
          join(dir, "kustomization.yaml"),
          "resources: [ns.yaml]\npatches:\n  - target: { kind: Namespace, name: shop }\n" +
            "    patch: |\n      apiVersion: v1\n      kind: Namespace\n      metadata:\n" +
            "        labels: { istio-injection: enabled }\n",
        );
        writeFileSync(
          join(dir, "ns.yaml"),
          "apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n",
        );
        await expect(kustomize(dir)).rejects.toThrow(/unable to parse SM or JSON patch/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

withKubectl("the validation catches", () => {
  const dev = () => structuredClone(objectsOf("dev"));
  const deploymentOf = (objects: K8sObject[], name: string): Json =>
    objects.find((o) => o.kind === "Deployment" && o.metadata.name === name) as Json;

  it("a field of the wrong type, in Kubernetes', Istio's and Linkerd's kinds", () => {
    const d = deploymentOf(dev(), "users");
    d.spec.replicas = "two";
    expect(schemaProblems(d as K8sObject)).toEqual([
      expect.stringMatching(/Deployment\/users: .*replicas must be integer/),
    ]);
    const vs = structuredClone(find("mesh-istio", "VirtualService", "users")) as Json;
    vs.spec.http[0].timeout = 5;
    expect(schemaProblems(vs as K8sObject)).toEqual([
      expect.stringMatching(/timeout must be string/),
    ]);
    const server = structuredClone(find("mesh-linkerd", "Server", "users-grpc")) as Json;
    server.spec.proxyProtocol = "grpc";
    server.spec.prot = 1;
    expect(schemaProblems(server as K8sObject)).toHaveLength(2);
    const route = structuredClone(find("mesh-linkerd", "GRPCRoute", "orders-placeorder")) as Json;
    route.metadata.annotations["retry.linkerd.io/grpc"] = "UNAVAILABLE";
    route.metadata.annotations["retry.linkerd.io/limitt"] = "2";
    expect(schemaProblems(route as K8sObject)).toEqual([
      expect.stringMatching(/metadata\.annotations\.retry\.linkerd\.io\/grpc/),
      expect.stringMatching(/metadata\.annotations: Unrecognized key/),
    ]);
  });

  it("a probe on an undeclared port, a missing ConfigMap, a target to a wrong port", () => {
    const objects = dev();
    const orders = deploymentOf(objects, "orders");
    orders.spec.template.spec.containers[0].readinessProbe.grpc.port = 9999;
    orders.spec.template.spec.volumes.find((v: Json) => v.name === "topology").configMap.name =
      "nope";
    orders.spec.template.spec.containers[0].env.find((e: Json) => e.name === "USERS_TARGET").value =
      "dns:///users-headless.shop.svc.cluster.local:50099";
    expect(referenceProblems(objects)).toEqual([
      "Deployment/orders: volume topology: ConfigMap nope is not defined",
      "Deployment/orders: readinessProbe port 9999 is not a declared container port",
      "Deployment/orders: env USERS_TARGET: Service users-headless has no port 50099",
    ]);
  });

  it("a Service that selects no pods, and an object outside the namespace", () => {
    const objects = dev();
    const service = objects.find(
      (o) => o.kind === "Service" && o.metadata.name === "users",
    ) as Json;
    service.spec.selector = { "app.kubernetes.io/name": "user" };
    service.metadata.namespace = "default";
    expect(referenceProblems(objects)).toEqual([
      "Service/users: selector matches no Deployment's pods",
      "Service/users: in namespace default, not shop",
    ]);
  });
});
