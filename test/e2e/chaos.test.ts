import { formatReport } from "../../scripts/chaos";
import { runChaos } from "../../scripts/chaos/run";
import { shopServices } from "../../scripts/members";
import { freeInstancePorts } from "../../scripts/ports";

// The short version of `npm run chaos` that CI runs: every kind of fault, a few seconds of
// load. Figures are reported (the report is printed), invariants are asserted.
describe("npm run chaos, short", () => {
  jest.setTimeout(120_000);

  it("loses and duplicates nothing while instances are killed, drained and fail 20% of charges", async () => {
    const ports = await freeInstancePorts(shopServices().length, 100);

    const report = await runChaos({
      scenario: "full",
      durationMs: 8_000,
      ratePerSecond: 20,
      ports,
      seed: 7,
    });

    console.log(formatReport(report));
    expect(report.load.started).toBe(160);
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    // Eight on the saga's stores (one of them on the payments outbox), two on notifications.
    expect(report.invariants).toHaveLength(10);
    expect(report.timeline.filter((t) => t.what.endsWith(" restarted"))).toHaveLength(4);
  });

  it("gives every ended order exactly one notification while orders and notifications are killed", async () => {
    const ports = await freeInstancePorts(shopServices().length, 100);

    const report = await runChaos({
      scenario: "events",
      durationMs: 8_000,
      ratePerSecond: 20,
      ports,
      seed: 11,
    });

    console.log(formatReport(report));
    expect(report.invariants.filter((i) => !i.holds)).toEqual([]);
    expect(report.invariants.map((i) => i.name)).toContain(
      "every confirmed or rejected order has exactly one notification",
    );
    expect(report.timeline.filter((t) => t.what.endsWith(" restarted"))).toHaveLength(4);
  });
});
