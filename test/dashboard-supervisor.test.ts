import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../mesh";
import { createGateway, type Gateway } from "../services/gateway/gateway";
import {
  serveSupervisorMetrics,
  type SupervisorMetricsServer,
} from "../scripts/supervisor-metrics";
import { createSupervisor, type Supervisor } from "../scripts/supervisor";
import { freeInstancePorts } from "../scripts/ports";
import { chromiumAvailable, launchChromium } from "./chromium";
import { topologyAt } from "./gateway-harness";

const SECRET = `test-secret-${process.pid}`;

// start:all's supervisor running real processes (one that keeps crashing, one that serves),
// its real metrics server, and the gateway's dashboard reading it over HTTP as the page does.
const CRASH = "setTimeout(() => process.exit(3), 20);";
const STEADY = "setInterval(() => {}, 1000); process.on('SIGTERM', () => process.exit(0));";
const SERVICES = ["users", "inventory", "payments", "orders", "notifications"];

describe("the dashboard and the supervisor", () => {
  let dir: string;
  let supervisor: Supervisor;
  let metrics: SupervisorMetricsServer;
  let gateway: Gateway;
  let adminUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dashboard-supervisor-"));
    writeFileSync(join(dir, "crash.js"), CRASH);
    writeFileSync(join(dir, "steady.js"), STEADY);
    supervisor = createSupervisor({
      write: () => undefined,
      restart: { initialDelayMs: 30, maxDelayMs: 200, jitter: 0, crashLoopCrashes: 3 },
    });
    metrics = await serveSupervisorMetrics(supervisor, 0);
    // Nothing listens on the members' ports: only the supervisor's view is under test.
    const ports = await freeInstancePorts(SERVICES.length, 100);
    const addresses = Object.fromEntries(SERVICES.map((s, i) => [s, `127.0.0.1:${ports[i]}`]));
    gateway = createGateway({
      topology: topologyAt(addresses, dir),
      log: silentLogger(),
      adminSecret: SECRET,
      supervisorMetricsUrl: metrics.url,
    });
    // The dashboard is on the admin listener; the harness's topology is plaintext, so the
    // operator is whoever holds the secret.
    adminUrl = `http://127.0.0.1:${await gateway.listenAdmin(0)}`;
  });

  afterAll(async () => {
    await supervisor?.stopAll();
    await metrics?.close();
    await gateway?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const state = async () =>
    (await (
      await fetch(`${adminUrl}/api/dashboard/state`, {
        headers: { authorization: `Bearer ${SECRET}` },
      })
    ).json()) as {
      supervisor: string;
      crashLoops: string[];
      services: { members: { member: string; supervisor: Record<string, unknown> | null }[] }[];
    };
  const member = (s: Awaited<ReturnType<typeof state>>, name: string) =>
    s.services.flatMap((x) => x.members).find((m) => m.member === name);

  it("shows a crash-looping member as such, with its restarts, while the others show running", async () => {
    // Labelled as start:all labels them: a service of one instance by its name.
    supervisor.start({ label: "notifications", script: join(dir, "crash.js") });
    supervisor.start({ label: "orders", script: join(dir, "steady.js") });

    const giveUp = Date.now() + 20_000;
    let seen = await state();
    while (seen.crashLoops.length === 0 && Date.now() < giveUp) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      seen = await state();
    }

    expect(seen.supervisor).toBe("ok");
    expect(seen.crashLoops).toEqual(["notifications-1"]);
    const looping = member(seen, "notifications-1")?.supervisor;
    expect(looping).toMatchObject({ crashLoop: true });
    expect(looping?.crashes).toBeGreaterThanOrEqual(3);
    expect(looping?.restarts).toBeGreaterThanOrEqual(2);
    expect(member(seen, "orders-1")?.supervisor).toEqual({
      restarts: 0,
      crashes: 0,
      crashLoop: false,
      running: true,
    });
    // Not run by this supervisor: no record, rather than a made-up one.
    expect(member(seen, "users-1")?.supervisor).toBeNull();
  });

  it("the page says so over everything, and in the member's row", async () => {
    if (!chromiumAvailable()) return;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      // As start:all prints it: the admin listener with the operator's secret in the fragment.
      await page.goto(`${adminUrl}/#secret=${SECRET}`);
      const alert = page.getByTestId("crash-loops");
      await alert.getByText("notifications-1").waitFor({ timeout: 15_000 });

      expect(await alert.textContent()).toMatch(/^Crash loop: notifications-1 keeps exiting/);
      const row = page.locator('#members tr[data-member="notifications-1"]');
      expect(await row.getByTestId("restarts").textContent()).toMatch(/^\d+ \(\d+\) crash loop$/);
      const steady = page.locator('#members tr[data-member="orders-1"]');
      expect(await steady.getByTestId("restarts").textContent()).toBe("0 (0)");
    } finally {
      await browser.close();
    }
  }, 30_000);
});
