/**
 * `npm run prometheus:config`: writes deploy/prometheus/prometheus.yml, a Prometheus scrape
 * configuration for every member of the mesh in mesh.yaml (MESH_TOPOLOGY), at its admin port.
 * `--check` fails instead if the committed file differs (the promtool test runs it).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { loadTopology, type Topology } from "../mesh";
import { projectRoot } from "../mesh/config";
import { memberName } from "../mesh/telemetry";
import { readFlags } from "./cli";
import { membersOf, metricsUrlOf } from "./members";

const SCRIPT = {
  name: "prometheus:config",
  usage: `usage: npm run prometheus:config -- [--check]

Writes deploy/prometheus/prometheus.yml: a Prometheus scrape configuration for every member
of the mesh in mesh.yaml (MESH_TOPOLOGY), at its admin port.

  --check             write nothing; exit 1 if the file differs from what mesh.yaml makes
  -h, --help          show this and exit`,
  options: { check: { type: "boolean" } },
} as const;

/** Options for {@link prometheusConfig}. */
export interface PrometheusConfigOptions {
  /** Defaults to "5s". */
  scrapeInterval?: string;
  /** Rule files, relative to the configuration file. Defaults to ["rules.yml"]. */
  ruleFiles?: string[];
}

/**
 * One `mesh` job with a target per member (`host:adminPort`), labelled `service` and
 * `member` so that `up` says which member is down. The members label their own series the
 * same way, hence `honor_labels`.
 */
export function prometheusConfig(
  topology: Topology,
  options: PrometheusConfigOptions = {},
): string {
  const interval = options.scrapeInterval ?? "5s";
  const targets = membersOf(topology, Object.keys(topology.services)).map((member) => ({
    targets: [new URL(metricsUrlOf(member)).host],
    labels: { service: member.service, member: memberName(member.service, member.instance) },
  }));
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? ["rules.yml"],
    scrape_configs: [
      { job_name: "mesh", honor_labels: true, metrics_path: "/metrics", static_configs: targets },
    ],
  };
  return `# Generated from mesh.yaml by \`npm run prometheus:config\`; do not edit.\n${stringify(config)}`;
}

function main(): void {
  const { values } = readFlags(SCRIPT);
  const file = join(projectRoot(), "deploy", "prometheus", "prometheus.yml");
  const wanted = prometheusConfig(loadTopology());
  if (values.check) {
    if (readFileSync(file, "utf8") !== wanted) {
      console.error(`${file} is stale: run npm run prometheus:config`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(file, wanted);
  console.log(`wrote ${file}`);
}

if (require.main === module) {
  try {
    main();
  } catch (err) {
    // An invalid mesh.yaml says which field is wrong; no stack trace.
    console.error(`prometheus:config failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
