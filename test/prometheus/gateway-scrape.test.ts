import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts } from "../../scripts/ports";
import { prometheusConfig } from "../../scripts/prometheus-config";
import { startGatewayShop, type GatewayShop } from "../gateway-harness";
import { installed, PROMETHEUS } from "./promtool";

const describeIf = installed(PROMETHEUS) ? describe : describe.skip;
const READY_TIMEOUT_MS = 30_000;
const SERIES_TIMEOUT_MS = 45_000;

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Debian's Prometheus scraping the REST gateway's /metrics, with the configuration
// `npm run prometheus:config` generates (the gateway is one of its targets).
describeIf("Prometheus scraping the REST gateway", () => {
  jest.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), "gateway-prometheus-"));
  let env: GatewayShop;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl = "";

  const query = async (promql: string): Promise<Sample[]> => {
    const url = `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`;
    const body = (await (await fetch(url)).json()) as { data: { result: Sample[] } };
    return body.data.result;
  };
  const eventually = async <T>(what: string, check: () => Promise<T | undefined>): Promise<T> => {
    const giveUp = Date.now() + SERIES_TIMEOUT_MS;
    for (;;) {
      const found = await check().catch(() => undefined);
      if (found !== undefined) return found;
      if (Date.now() > giveUp) throw new Error(`${what}: not within ${SERIES_TIMEOUT_MS} ms`);
      await sleep(250);
    }
  };

  beforeAll(async () => {
    env = await startGatewayShop();
    const [prometheusPort] = await freePorts(1);
    const gateway = new URL(env.baseUrl).host;
    writeFileSync(
      join(dir, "prometheus.yml"),
      prometheusConfig(env.topology, { scrapeInterval: "1s", ruleFiles: [], gateway }),
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: "ignore" },
    );
    prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    await eventually("Prometheus ready", async () =>
      (await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined,
    );
  }, READY_TIMEOUT_MS * 2);

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once("exit", resolve));
      prometheus.kill("SIGTERM");
      await exited;
    }
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("finds the gateway up, with its requests by route and status and its calls by peer", async () => {
    const up = await eventually("the gateway up", async () => {
      const [sample] = await query('up{service="gateway"}');
      return sample?.value[1] === "1" ? sample : undefined;
    });
    for (let i = 0; i < 5; i++) await fetch(`${env.baseUrl}/api/products`);
    await fetch(`${env.baseUrl}/api/products/sku-none`);

    const requests = await eventually("5 GET /api/products scraped", async () => {
      const [sample] = await query(
        'http_server_request_duration_seconds_count{service="gateway",http_route="/api/products",http_response_status_code="200"}',
      );
      return sample && Number(sample.value[1]) >= 5 ? sample : undefined;
    });
    const notFound = await eventually("the 404 scraped", async () => {
      const [sample] = await query(
        'http_server_request_duration_seconds_count{http_route="/api/products/{sku}",http_response_status_code="404"}',
      );
      return sample;
    });
    const calls = await eventually("the gateway's calls to inventory", async () => {
      const [sample] = await query(
        'grpc_client_handled_total{service="gateway",peer="inventory",grpc_method="ListProducts"}',
      );
      return sample && Number(sample.value[1]) >= 5 ? sample : undefined;
    });

    expect(up.metric).toMatchObject({ service: "gateway", member: "gateway-1" });
    expect(Number(requests.value[1])).toBe(5);
    expect(requests.metric).toMatchObject({ http_request_method: "GET", member: "gateway-1" });
    expect(Number(notFound.value[1])).toBe(1);
    expect(calls.metric).toMatchObject({
      grpc_code: "OK",
      grpc_service: "shop.inventory.v1.InventoryService",
    });
  });
});
