import { formatReport } from "../../scripts/chaos";
import { runChaos } from "../../scripts/chaos/run";
import { freeInstancePorts } from "../../scripts/ports";

// The short version of `npm run chaos` that CI runs: every kind of fault, a few seconds of
// load. Figures are reported (the report is printed), invariants are asserted.
describe("npm run chaos, short", () => {
  jest.setTimeout(120_000);

  it("loses and duplicates nothing while instances are killed, drained and fail 20% of charges", async () => {
    const ports = (await freeInstancePorts(4, 100)) as [number, number, number, number];

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
    expect(report.invariants).toHaveLength(7);
    expect(report.timeline.filter((t) => t.what.endsWith(" restarted"))).toHaveLength(4);
  });
});
