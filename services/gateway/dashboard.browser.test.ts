import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { projectRoot } from "../../mesh/config";
import { toolAvailable } from "../../test/external-tools";
import { startGatewayShop, type GatewayShop } from "../../test/gateway-harness";

const CHROMIUM = "/usr/bin/chromium";
// Debian's chromium, headless, with nothing that reaches the network or needs a GPU or sandbox.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SERVICES = ["gateway", "users", "inventory", "payments", "orders", "notifications"];
// The screenshot goes to docs/dashboard.png (docs/OPERATIONS.md's) only when asked.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT
  ? join(projectRoot(), "docs", "dashboard.png")
  : join(tmpdir(), "grpc-shop-mesh-dashboard.png");

const available = toolAvailable(existsSync(CHROMIUM), CHROMIUM, "chromium");
const describeWithChromium = available ? describe : describe.skip;

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

  test("shows every service; an order placed from the page appears in the counters and as a trace", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`${env.baseUrl}/`);
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

    // A few more orders over a few polls, so the charts have lines, then the README's picture.
    for (let i = 0; i < 6; i++) {
      await page.click("#demo-order");
      await page.waitForTimeout(700);
    }
    await page.waitForTimeout(1_000);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`screenshot: ${SCREENSHOT}`);
  }, 60_000);
});
