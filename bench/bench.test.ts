import { loadTopology } from "../mesh/config";
import { membersOf } from "../scripts/members";
import { quickConfig, type BenchConfig } from "./config";
import { haproxyMissing } from "./haproxy";
import { runSuite } from "./main";
import { formatReport, type BenchReport } from "./report";

// The smallest run that still exercises every comparison end to end: this checks that the
// suite works and reports every section, never how fast anything is.
const tiny: BenchConfig = {
  ...quickConfig,
  rounds: 1,
  roundMs: 150,
  warmupMs: 50,
  storeRows: 20,
  storeRoundRows: 10,
  storeBatch: 10,
  growthSmall: 200,
  growthLarge: 1_000,
  growthSamples: 20,
};

describe("npm run bench --quick", () => {
  let report: BenchReport;

  beforeAll(async () => {
    const missing = haproxyMissing();
    if (missing && !process.env.CI) {
      console.warn(`section b will be reported as skipped: ${missing}`);
    }
    report = await runSuite(tiny, ["a", "b", "c", "d", "e", "f"], () => undefined);
  }, 300_000);

  it("reports every section, in order, with the machine and the command", () => {
    expect(report.sections.map((s) => s.id)).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.node).toBe(process.version);
    const text = formatReport(report);
    for (const s of report.sections) expect(text).toContain(`${s.id}. ${s.title}`);
    expect(text).toContain(report.machine.cpuModel);
  });

  it.each(["a", "c", "d", "e", "f"])("section %s has a table and finite numbers", (id) => {
    const section = report.sections.find((s) => s.id === id);
    expect(section?.skipped).toBeUndefined();
    expect(section?.rows.length).toBeGreaterThan(0);
    const figures = Object.values(section?.figures ?? {});
    expect(figures.length).toBeGreaterThan(0);
    for (const value of figures) expect(Number.isFinite(value)).toBe(true);
  });

  it("section a measures telemetry as services run it and with every trace recorded", () => {
    const section = report.sections.find((s) => s.id === "a");
    expect(section?.rows.map((r) => r[0])).toEqual([
      "raw grpc-js",
      "grpc-js + deadline + mesh service config",
      "mesh",
      "mesh + telemetry (default: at most 10 new traces/s)",
      "mesh + telemetry, every trace recorded",
    ]);
    expect(section?.figures.recorded_rps).toBeGreaterThan(0);
  });

  it("section d compares the store with node-sqlite3 alone in each round too", () => {
    const figures = report.sections.find((s) => s.id === "d")?.figures ?? {};
    expect(figures.store_over_driver_within_rounds).toBeGreaterThan(0);
    expect(figures.store_over_driver).toBeGreaterThan(0);
  });

  it("section c also sends the echo graph orders at the rate the real graph reached", () => {
    const section = report.sections.find((s) => s.id === "c");
    expect(section?.rows.map((r) => r[0])).toEqual([
      "echo handlers, no stores",
      "store floor: echo + least sqlite3",
      "real services, SQLite",
      "echo handlers at the real graph's rate",
      `echo handlers, ${2 * tiny.orderConcurrency} in flight`,
      `real services, ${2 * tiny.orderConcurrency} in flight`,
    ]);
    const figures = section?.figures ?? {};
    // The open loop placed orders (CPU spent on them) and the ratio is the two rows' own.
    expect(figures.echo_at_real_rate_cpu_ms_per_order).toBeGreaterThan(0);
    // The thread pools' CPU (sqlite3's) is a part of the processes' own; in a round this short
    // it may be under one clock tick (10 ms), so it is not required to be above zero here.
    expect(section?.columns).toContain("of it, thread pools");
    expect(figures.real_pool_cpu_ms_per_order).toBeGreaterThanOrEqual(0);
    expect(figures.real_pool_cpu_ms_per_order).toBeLessThan(figures.real_cpu_ms_per_order);
    // Both graphs ran with twice the orders in flight too, and the ratios there are their own.
    expect(figures.real_orders_per_s_twice_in_flight).toBeGreaterThan(0);
    expect(figures.real_over_echo_twice_in_flight).toBeCloseTo(
      figures.real_orders_per_s_twice_in_flight / figures.echo_orders_per_s_twice_in_flight,
      2,
    );
    expect(figures.real_over_echo_cpu_per_order_at_real_rate).toBeCloseTo(
      figures.real_cpu_ms_per_order / figures.echo_at_real_rate_cpu_ms_per_order,
      1,
    );
  });

  it("section b measures the HAProxy sidecar pair, or says which package is missing", () => {
    const section = report.sections.find((s) => s.id === "b");
    if (haproxyMissing()) {
      // In CI a missing haproxy fails the suite itself (runHops throws), so this is local only.
      expect(section?.skipped).toMatch(/apt-get install -y haproxy/);
      return;
    }
    expect(section?.skipped).toBeUndefined();
    expect(section?.rows.map((r) => r[0])).toEqual(["raw grpc-js", "mesh", "sidecar pair"]);
    for (const value of Object.values(section?.figures ?? {})) {
      expect(Number.isFinite(value)).toBe(true);
    }
  });

  it("section f ran start:all through npm twice, measured every member, and SIGTERM left nothing", () => {
    const section = report.sections.find((s) => s.id === "f");
    // Every instance of mesh.yaml's services, and the gateway.
    const members = membersOf(loadTopology()).length + 1;
    expect(section?.rows.map((r) => [r[0], r[3]])).toEqual([
      ["first start", members],
      ["restart 1", members],
    ]);
    expect(section?.figures.leftAfterSigterm).toBe(0);
    expect(section?.figures.maxMemberRssMb).toBeGreaterThan(0);
  });

  it("every target names its value and whether it was met", () => {
    const targets = report.sections.flatMap((s) => s.targets);
    expect(targets.length).toBeGreaterThan(0);
    for (const t of targets) {
      expect(Number.isFinite(t.value)).toBe(true);
      expect(typeof t.met).toBe("boolean");
    }
  });
});
