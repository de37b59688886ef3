import { adminPortOf } from "../mesh/telemetry";
import { freeInstancePorts, freePorts } from "../scripts/ports";

describe("freePorts and freeInstancePorts", () => {
  it("choose below the ephemeral range, and never hand the same port out twice", async () => {
    const instances = await freeInstancePorts(9, 100);
    const neighbours = instances.flatMap((p) => [p + 100, adminPortOf(p), adminPortOf(p + 100)]);
    const more = [...(await freePorts(40)), ...(await freePorts(40))];
    const all = [...instances, ...neighbours, ...more];
    expect(new Set(all).size).toBe(all.length);
    for (const port of all) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(32_768);
    }
  });
});
