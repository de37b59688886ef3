import { status } from "@grpc/grpc-js";
import { edgeStats, histogramQuantile, type Scrape } from "./edge-stats";
import { parsePrometheusText } from "./prom-text";
import { silentLogger } from "../../../mesh";
import { createTelemetry } from "../../../mesh/telemetry";
import { LATENCY_BUCKETS, type MeshMetrics } from "../../../mesh/telemetry";

const ORDERS = "/shop.orders.v1.OrderService/PlaceOrder";
const USERS = "/shop.users.v1.UserService/GetUser";

/** The gateway's metrics: the mesh's telemetry, as the gateway process makes it. */
function gatewayMetrics(member = "gateway-1"): MeshMetrics & {
  recordCall(peer: string, path: string, code: status, seconds: number): void;
} {
  const { metrics } = createTelemetry({
    service: "gateway",
    member,
    log: silentLogger(),
  });
  return Object.assign(metrics, {
    // What the client probe records for one call (mesh/telemetry/client-probe.ts).
    recordCall(peer: string, path: string, code: status, seconds: number) {
      const [grpcService, grpcMethod] = path.slice(1).split("/");
      const labels = {
        peer,
        grpc_service: grpcService,
        grpc_method: grpcMethod,
        grpc_type: "unary",
      };
      metrics.clientHandled.series({ ...labels, grpc_code: status[code] }).value++;
      metrics.clientHandling.series(labels).observe(seconds);
    },
  });
}

/** A real prom-client registry's exposition, parsed, as the dashboard reads a member's. */
async function scrape(metrics: MeshMetrics, at: number): Promise<Scrape> {
  return { at, samples: parsePrometheusText(await metrics.registry.metrics()) };
}

describe("edge statistics from prom-client output", () => {
  test("rate, error rate and p50/p99 come from the change between two scrapes", async () => {
    const metrics = gatewayMetrics();
    // Before the first poll: calls that must not count in the interval.
    for (let i = 0; i < 5; i++) metrics.recordCall("orders", ORDERS, status.OK, 4);
    const first = new Map([["gateway-1", await scrape(metrics, 10_000)]]);

    // In the interval: 10 fast calls (3 ms), 10 slow (200 ms), of which 2 UNAVAILABLE; 4 to users.
    for (let i = 0; i < 10; i++) metrics.recordCall("orders", ORDERS, status.OK, 0.003);
    for (let i = 0; i < 8; i++) metrics.recordCall("orders", ORDERS, status.OK, 0.2);
    for (let i = 0; i < 2; i++) metrics.recordCall("orders", ORDERS, status.UNAVAILABLE, 0.2);
    for (let i = 0; i < 4; i++) metrics.recordCall("users", USERS, status.NOT_FOUND, 0.001);
    const second = new Map([["gateway-1", await scrape(metrics, 12_000)]]);

    const [orders, users] = edgeStats(second, first);
    expect(orders).toMatchObject({ from: "gateway", to: "orders", total: 25, rate: 20 / 2 });
    expect(orders.errorRate).toBeCloseTo(2 / 20);
    // Bucket interpolation as PromQL's histogram_quantile: rank 10 of 20 ends the
    // (2.5 ms, 5 ms] bucket; rank 19.8 is 98% into the (100 ms, 250 ms] bucket.
    expect(orders.p50Ms).toBeCloseTo(5);
    expect(orders.p99Ms).toBeCloseTo(100 + 150 * (9.8 / 10));
    expect(users).toMatchObject({ from: "gateway", to: "users", total: 4, rate: 2, errorRate: 1 });
  });

  test("the first poll gives totals but no rate, and a restarted member's counters count anew", async () => {
    const before = gatewayMetrics();
    for (let i = 0; i < 50; i++) before.recordCall("orders", ORDERS, status.OK, 0.01);
    const first = new Map([["gateway-1", await scrape(before, 0)]]);
    expect(edgeStats(first, new Map())[0]).toMatchObject({ total: 50, rate: null, p50Ms: null });

    // The process restarted: fresh counters below the previous values.
    const after = gatewayMetrics();
    for (let i = 0; i < 3; i++) after.recordCall("orders", ORDERS, status.OK, 0.01);
    const [edge] = edgeStats(new Map([["gateway-1", await scrape(after, 1_000)]]), first);
    expect(edge).toMatchObject({ total: 3, rate: 3, errorRate: 0 });
  });

  test("members of one caller add up on one edge", async () => {
    const one = gatewayMetrics("orders-1");
    const two = gatewayMetrics("orders-2");
    const empty = async (m: typeof one) => scrape(m, 0);
    const previous = new Map([
      ["a", await empty(one)],
      ["b", await empty(two)],
    ]);
    one.recordCall("payments", "/shop.payments.v1.PaymentService/Charge", status.OK, 0.02);
    two.recordCall("payments", "/shop.payments.v1.PaymentService/Charge", status.OK, 0.02);
    const current = new Map([
      ["a", await scrape(one, 1_000)],
      ["b", await scrape(two, 1_000)],
    ]);
    expect(edgeStats(current, previous)).toEqual([
      expect.objectContaining({ from: "gateway", to: "payments", total: 2, rate: 2 }),
    ]);
  });
});

describe("histogramQuantile", () => {
  test("past the last finite bucket it answers that bucket's bound; no observations is null", () => {
    const last = LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1];
    expect(
      histogramQuantile(
        0.99,
        new Map([
          [last, 0],
          [Infinity, 10],
        ]),
      ),
    ).toBe(last);
    expect(histogramQuantile(0.5, new Map([[Infinity, 0]]))).toBeNull();
  });
});

describe("parsePrometheusText", () => {
  test("reads prom-client's escaped label values and +Inf buckets", async () => {
    const metrics = gatewayMetrics('odd "member"\\n');
    metrics.recordCall("orders", ORDERS, status.OK, 0.5);
    const samples = parsePrometheusText(await metrics.registry.metrics());
    const inf = samples.find(
      (s) => s.name === "grpc_client_handling_seconds_bucket" && s.labels.le === "+Inf",
    );
    expect(inf).toMatchObject({ value: 1, labels: { member: 'odd "member"\\n', peer: "orders" } });
  });
});
