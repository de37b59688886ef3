import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { projectRoot } from "../../mesh/config";
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from "../../test/chromium";
import { startGatewayShop, type GatewayShop } from "../../test/gateway-harness";

const SERVICES = ["gateway", "users", "inventory", "payments", "orders", "notifications"];
// The screenshot goes to docs/dashboard.png (docs/OPERATIONS.md's) only when asked.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? join(projectRoot(), "docs", "dashboard.png")
  : join(tmpdir(), "grpc-shop-mesh-dashboard.png");

const describeWithChromium = chromiumAvailable() ? describe : describe.skip;

/** The `total` cell of the edges table's row for `edge`, 0 while the row is absent. */
async function edgeTotal(page: Page, edge: string): Promise<number> {
  const cell = page.locator(`#edges tr[data-edge="${edge}"] [data-testid=edge-total]`);
  return (await cell.count()) === 0 ? 0 : Number(await cell.textContent());
}

describeWithChromium("dashboard in headless Chromium", () => {
  let env: GatewayShop;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    env = await startGatewayShop();
    await env.shop.inventory.createProduct({
      sku: "sku-espresso",
      name: "Espresso beans",
      description: "",
      price: { currencyCode: "USD", units: 12, nanos: 500_000_000 },
      initialStock: 1_000,
    });
    // The demo user the page logs in as (scripts/seed.ts).
    await env.shop.users.createUser({
      email: "ada@example.com",
      displayName: "Ada",
      password: "demo-password",
    });
    profile = mkdtempSync(join(tmpdir(), "chromium-profile-"));
    // A fresh profile (--user-data-dir) per run, as playwright passes it.
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1400, height: 1500 },
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await env?.stop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  test("shows every service to the operator; an order placed from the page appears in the counters and as a trace", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    // As start:all prints it: the admin listener with the operator's secret in the fragment.
    await page.goto(`${env.adminUrl}/#secret=${env.adminSecret}`);
    for (const service of SERVICES) {
      await page.locator(`#topology [data-service="${service}"]`).waitFor();
    }
    await page.locator('#members tr[data-member="orders-1"]').getByText("SERVING").waitFor();
    const before = await edgeTotal(page, "gateway → orders");

    const started = Date.now();
    await page.click("#demo-order");

    await page.locator("[data-testid=demo-result]").getByText("CONFIRMED").waitFor();
    const orderId = (await page.locator("[data-testid=demo-result]").textContent())!.split(" ")[0];
    while ((await edgeTotal(page, "gateway → orders")) <= before) await page.waitForTimeout(100);
    await page.locator("#traces .trace-title", { hasText: "POST /api/orders" }).first().waitFor();
    console.log(
      `order ${orderId} shown in the counters and traces ${Date.now() - started} ms after the click`,
    );

    // The order is real: the service has it.
    const stored = await env.shop.orders.getOrder({ orderId });
    expect(stored.order?.orderId).toBe(orderId);
    expect(await edgeTotal(page, "gateway → orders")).toBe(before + 1);
    const trace = page.locator("#traces .trace", { hasText: "POST /api/orders" }).first();
    expect(await trace.getByText("shop.orders.v1.OrderService/PlaceOrder").count()).toBe(1);
    expect(errors).toEqual([]);

    // The operator adds a fault from the page; it is listed as a runtime override.
    await page.selectOption("#fault-form select[name=service]", "payments");
    await page.click("#fault-form button[type=submit]");
    await page.locator("#faults li", { hasText: '"service":"payments"' }).first().waitFor();
    await page.locator("#faults li button", { hasText: "remove" }).first().click();
    await page
      .locator("#faults li", { hasText: '"service":"payments"' })
      .waitFor({ state: "detached" });

    // A few more orders over a few polls, so the charts have lines, then the README's picture.
    for (let i = 0; i < 6; i++) {
      await page.click("#demo-order");
      await page.waitForTimeout(700);
    }
    await page.waitForTimeout(1_000);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  }, 60_000);

  test("a page of another origin cannot inject a fault, with or without a preflight", async () => {
    const page = await browser.newPage();
    // The public API's origin (another port) stands for any other site the operator visits.
    await page.goto(`${env.baseUrl}/openapi.json`);
    const fault = { service: "payments", abort: { percentage: 100, code: "UNAVAILABLE" } };
    const outcomes = await page.evaluate(
      async ({ url, body }) => {
        const attempt = async (init: RequestInit) => {
          try {
            return String((await fetch(`${url}/api/faults`, { method: "POST", ...init })).status);
          } catch (err) {
            return `blocked: ${(err as Error).message}`;
          }
        };
        return {
          // A "simple" request: no preflight, so the server alone must refuse it.
          simple: await attempt({
            mode: "no-cors",
            body,
            headers: { "content-type": "text/plain" },
          }),
          // JSON needs a CORS preflight, which the admin listener never grants.
          json: await attempt({ body, headers: { "content-type": "application/json" } }),
        };
      },
      { url: env.adminUrl, body: JSON.stringify(fault) },
    );
    console.log(`cross-site attempts: ${JSON.stringify(outcomes)}`);
    expect(outcomes.json).toMatch(/^blocked/);
    const list = await fetch(`${env.adminUrl}/api/faults`, {
      headers: { authorization: `Bearer ${env.adminSecret}` },
    });
    expect(((await list.json()) as { overrides: unknown[] }).overrides).toEqual([]);
  }, 30_000);
});
