import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTopology } from "../../mesh";
import { prometheusConfig } from "../../scripts/prometheus-config";
import { installed, promtool, PROMTOOL } from "./promtool";

const DIR = join(__dirname, "..", "..", "deploy", "prometheus");
const describeIf = installed(PROMTOOL) ? describe : describe.skip;

describeIf("deploy/prometheus, checked by promtool", () => {
  it("has valid alerting and recording rules", () => {
    expect(promtool(["check", "rules", "rules.yml"], DIR)).toMatch(/SUCCESS: 15 rules found/);
  });

  it("fires the burn-rate, instance-down, breaker and ejection alerts its unit tests expect", () => {
    expect(promtool(["test", "rules", "rules.test.yml"], DIR)).toMatch(/SUCCESS/);
  });

  it("has a valid scrape configuration, generated from the project's mesh.yaml", () => {
    expect(promtool(["check", "config", "prometheus.yml"], DIR)).toMatch(
      /is valid prometheus config/,
    );
    expect(readFileSync(join(DIR, "prometheus.yml"), "utf8")).toBe(
      prometheusConfig(loadTopology({})),
    );
  });
});
