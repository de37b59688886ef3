import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer, loadTopology } from "../../mesh";
import { projectRoot } from "../../mesh/config";
import { waitForServing } from "../../scripts/health-wait";
import { pruneAllowRules } from "../../scripts/scratch-mesh";
import { freeInstancePorts, freePorts } from "../../scripts/ports";
import { prometheusConfig } from "../../scripts/prometheus-config";
import { installed, PROMETHEUS } from "./promtool";

const describeIf = installed(PROMETHEUS) ? describe : describe.skip;
const READY_TIMEOUT_MS = 30_000;
const SERIES_TIMEOUT_MS = 45_000;
// Above the users service's drain delay and grace (mesh.yaml) for its SIGTERM.
const KILL_AFTER_MS = 15_000;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a value, or throws what it last saw after `timeoutMs`. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const giveUp = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > giveUp)
      throw new Error(`${what}: not within ${timeoutMs} ms (${String(last)})`);
    await sleep(250);
  }
}

// A real users process (node dist/services/users/main.js, what the image runs) and Debian's
// Prometheus scraping its admin port every second, with the configuration the project generates.
describeIf("Prometheus scraping a running mesh member", () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), "mesh-prometheus-"));
  const children: ChildProcess[] = [];
  let users: ReturnType<typeof createPeer<typeof UserServiceService>>;
  let prometheusUrl = "";

  const query = async (promql: string): Promise<Sample[]> => {
    const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`;
    const body = (await (await fetch(url)).json()) as {
      status: string;
      data: { result: Sample[] };
    };
    if (body.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(body)}`);
    return body.data.result;
  };

  beforeAll(async () => {
    const [grpcPort] = await freeInstancePorts(1, 100);
    const [prometheusPort] = await freePorts(1);
    const topologyFile = join(dir, "mesh.yaml");
    // The project's topology and policy, with users alone on a free port.
    const doc = parseYaml(readFileSync(join(projectRoot(), "mesh.yaml"), "utf8")) as {
      dataDir: string;
      services: Record<string, unknown>;
      security?: { clients?: string[]; allow?: Record<string, string[]> };
    };
    doc.dataDir = dir;
    doc.services = { users: { port: grpcPort } };
    pruneAllowRules(doc, ["users"]);
    writeFileSync(topologyFile, stringifyYaml(doc));
    // Plaintext: what is tested is the admin port Prometheus scrapes, not the gRPC identity.
    const env = {
      ...process.env,
      MESH_TOPOLOGY: topologyFile,
      LOG_LEVEL: "warn",
      MESH_PLAINTEXT: "1",
    };
    const topology = loadTopology(env);

    children.push(
      spawn(process.execPath, [join(projectRoot(), "dist", "services", "users", "main.js")], {
        env,
        stdio: "ignore",
      }),
    );
    await waitForServing(
      `127.0.0.1:${grpcPort}`,
      READY_TIMEOUT_MS,
      () => children[0].exitCode === null,
    );

    writeFileSync(
      join(dir, "prometheus.yml"),
      prometheusConfig(topology, { scrapeInterval: "1s", ruleFiles: [], gateway: false }),
    );
    const prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: "ignore" },
    );
    children.push(prometheus);
    prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    await eventually("Prometheus ready", READY_TIMEOUT_MS, async () =>
      (await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined,
    );
    users = createPeer(UserServiceService, {
      target: `127.0.0.1:${grpcPort}`,
      policy: topology.policy,
    });
  });

  afterAll(async () => {
    users?.close();
    for (const child of children) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), KILL_AFTER_MS);
      await exited;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds the member up, and its calls in grpc_server_handled_total with a non-zero rate", async () => {
    const { user } = await users.createUser({ email: "prom@example.com", displayName: "Prom" });
    const getUser = { userId: user?.userId ?? "" };
    const okCount = async (atLeast: number): Promise<Sample | undefined> => {
      const [sample] = await query(
        'grpc_server_handled_total{grpc_method="GetUser",grpc_code="OK"}',
      );
      return sample && Number(sample.value[1]) >= atLeast ? sample : undefined;
    };
    // A counter's first scrape is its baseline: the series must exist before the calls that
    // the rate should see.
    await users.getUser(getUser);
    const up = await eventually("up == 1", SERIES_TIMEOUT_MS, async () => {
      const [sample] = await query('up{job="mesh"}');
      return sample?.value[1] === "1" ? sample : undefined;
    });
    await eventually("the first GetUser scraped", SERIES_TIMEOUT_MS, () => okCount(1));

    for (let i = 0; i < 20; i++) await users.getUser(getUser);
    await users.getUser({ userId: "usr_00000000000000000000000000" }).catch(() => undefined);

    const handled = await eventually("21 GetUser OK scraped", SERIES_TIMEOUT_MS, () => okCount(21));
    const rate = await eventually("a non-zero rate", SERIES_TIMEOUT_MS, async () => {
      const [sample] = await query("sum by (service) (rate(grpc_server_handled_total[30s]))");
      return sample && Number(sample.value[1]) > 0 ? sample : undefined;
    });
    const notFound = await query(
      'grpc_server_handled_total{grpc_method="GetUser",grpc_code="NOT_FOUND"}',
    );

    expect(up.metric).toMatchObject({ service: "users", member: "users-1" });
    expect(handled.metric).toMatchObject({
      service: "users",
      member: "users-1",
      grpc_service: "shop.users.v1.UserService",
      grpc_type: "unary",
    });
    expect(Number(handled.value[1])).toBe(21);
    expect(rate.metric).toEqual({ service: "users" });
    expect(notFound.map((s) => Number(s.value[1]))).toEqual([1]);
    console.log(
      `Prometheus: up=${up.value[1]}, GetUser OK=${handled.value[1]}, rate=${Number(rate.value[1]).toFixed(3)}/s`,
    );
  });
});
