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

  it("never hand out a port that fetch refuses (10080, the Fetch standard's only bad port in range)", async () => {
    // The premise, from Node's own fetch: 10080 is refused before any connection is tried.
    const refused = await fetch("http://127.0.0.1:10080/").then(
      () => undefined,
      (err: { cause?: unknown }) => err,
    );
    expect(String(refused?.cause)).toMatch(/bad port/);
    // Worker 1's slice starts at 10 000: the first draw lands on 10 080, the next ones at random.
    const worker = process.env.JEST_WORKER_ID;
    process.env.JEST_WORKER_ID = "1";
    const random = jest.spyOn(Math, "random").mockReturnValueOnce(80.5 / 3_800);
    try {
      const [port] = await freePorts(1);
      expect(random).toHaveBeenCalled();
      expect(port).not.toBe(10_080);
      expect(port).toBeGreaterThanOrEqual(10_000);
    } finally {
      random.mockRestore();
      if (worker === undefined) delete process.env.JEST_WORKER_ID;
      else process.env.JEST_WORKER_ID = worker;
    }
  });
});
