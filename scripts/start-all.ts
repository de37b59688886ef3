/**
 * `npm run start:all`: every service of the mesh as its own process on its port, health
 * checked, demo data seeded, and ready-to-paste grpcurl commands. Ctrl-C stops it all.
 */
import { randomBytes } from "node:crypto";
import { relative } from "node:path";
import { loadTopology, projectRoot, TopologyError, type Topology } from "../mesh";
import { checkHealth } from "./health-wait";
import { memberServing, membersOf, metricsUrlOf, startMember } from "./members";
import { seedDemoData } from "./seed";
import { createSupervisor } from "./supervisor";

const READY_TIMEOUT_MS = 30_000;
const RESTART_DELAY_MS = 1_000;
// An instance that exits again this soon after a restart, this many times in a row, is
// crash-looping: the mesh is stopped instead of restarting it forever.
const CRASH_LOOP_WINDOW_MS = 10_000;
const CRASH_LOOP_EXITS = 3;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** The commands printed for the user; the end-to-end test runs them exactly as printed. */
export function exampleCommands(topology: Topology, userId: string, runTag: string): string[] {
  // grpcurl dials one address: the first instance's.
  const at = (name: string): string => topology.services[name].instances[0].listen;
  const call = (name: string, method: string, body?: object): string =>
    `grpcurl -plaintext ${body ? `-d '${JSON.stringify(body)}' ` : ""}${at(name)} ${method}`;
  return [
    `grpcurl -plaintext ${at("orders")} list`,
    `grpcurl -plaintext ${at("orders")} describe shop.orders.v1.OrderService.PlaceOrder`,
    call("users", "shop.users.v1.UserService/CreateUser", {
      email: `you-${runTag}@example.com`,
      display_name: "You",
    }),
    call("inventory", "shop.inventory.v1.InventoryService/ListProducts"),
    call("orders", "shop.orders.v1.OrderService/PlaceOrder", {
      request_id: "demo-order-1",
      user_id: userId,
      items: [{ sku: "sku-espresso", quantity: 2 }],
    }),
    call("inventory", "shop.inventory.v1.InventoryService/GetProduct", { sku: "sku-espresso" }),
    call("orders", "shop.orders.v1.OrderService/PlaceOrder", {
      request_id: "demo-order-2",
      user_id: userId,
      items: [{ sku: "sku-kettle", quantity: 5 }],
    }),
    call("orders", "shop.orders.v1.OrderService/ListOrders", { user_id: userId }),
    call("notifications", "shop.notifications.v1.NotificationService/ListNotifications", {
      user_id: userId,
    }),
  ];
}

async function main(): Promise<void> {
  let topology: Topology;
  try {
    topology = loadTopology();
  } catch (err) {
    if (err instanceof TopologyError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const root = projectRoot();
  let stopping = false;

  let ready = false;
  const restarts = new Map<string, { at: number; quickExits: number }>();
  const supervisor = createSupervisor({
    onUnexpectedExit: (label, code, signal) => {
      if (stopping) return;
      const how = signal ?? `code ${code}`;
      const member = membersOf(topology).find((m) => m.label === label);
      const last = restarts.get(label) ?? { at: 0, quickExits: 0 };
      const quickExits = Date.now() - last.at < CRASH_LOOP_WINDOW_MS ? last.quickExits + 1 : 0;
      if (!ready || !member || quickExits >= CRASH_LOOP_EXITS) {
        console.error(`\n${label} exited unexpectedly (${how}); stopping the mesh.`);
        void stop(1);
        return;
      }
      // As an orchestrator would: the others keep serving, and the instance comes back.
      console.error(
        `\n${label} exited unexpectedly (${how}); restarting it in ${RESTART_DELAY_MS / 1000} s.`,
      );
      setTimeout(() => {
        if (stopping) return;
        restarts.set(label, { at: Date.now(), quickExits });
        startMember(supervisor, root, member);
      }, RESTART_DELAY_MS);
    },
  });
  const stop = async (exitCode: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log("\nStopping the mesh…");
    await supervisor.stopAll();
    console.log("All services stopped.");
    process.exit(exitCode);
  };
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));

  let seed: Awaited<ReturnType<typeof seedDemoData>>;
  const rows = [["service", "address", "health", "store", "metrics"]];
  try {
    const members = membersOf(topology);
    for (const member of members) startMember(supervisor, root, member);
    await Promise.all(members.map((m) => memberServing(supervisor, m, READY_TIMEOUT_MS)));
    seed = await seedDemoData(topology);
    for (const member of members) {
      const store = member.store.startsWith(root) ? relative(root, member.store) : member.store;
      const health = await checkHealth(member.listen);
      rows.push([member.label, member.listen, health, store, metricsUrlOf(member)]);
    }
  } catch (err) {
    console.error(`\nstart:all failed: ${err instanceof Error ? err.message : String(err)}`);
    return stop(1);
  }
  ready = true;
  const userId = seed.userIds.get("ada@example.com") ?? "";

  console.log(`
The mesh is up. ${seed.created > 0 ? `Seeded ${seed.created} demo users and products.` : "Demo data was already there."}

${table(rows)}

Try it with grpcurl (no proto files needed: every server has reflection):

${exampleCommands(topology, userId, randomBytes(3).toString("hex"))
  .map((c) => `  ${c}`)
  .join("\n")}

The second order asks for more kettles than are in stock and is rejected (FAILED_PRECONDITION).
Both orders become notifications through the orders event stream (the last command).
An instance that dies is restarted; kill one (kill -9) and watch the others carry its traffic.
Each instance serves Prometheus metrics (the last column) and its recent spans at /traces.
Press Ctrl-C to stop everything.
`);
}

main().catch((err: unknown) => {
  console.error("start:all failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
