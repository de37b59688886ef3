/**
 * `npm run start:all`: every service of the mesh as its own process on its port, health
 * checked, demo data seeded, and ready-to-paste grpcurl commands. Ctrl-C stops it all.
 */
import { randomBytes } from "node:crypto";
import { join, relative } from "node:path";
import { loadTopology, projectRoot, TopologyError, type Topology } from "../mesh";
import { checkHealth, waitForServing } from "./health-wait";
import { seedDemoData } from "./seed";
import { createSupervisor } from "./supervisor";

const READY_TIMEOUT_MS = 30_000;

/** The services start:all runs, in start order. */
export const SERVICES = ["users", "inventory", "payments", "orders"] as const;

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
  const at = (name: string): string => topology.services[name].target;
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

  const supervisor = createSupervisor({
    onUnexpectedExit: (label, code, signal) => {
      if (stopping) return;
      console.error(
        `\n${label} exited unexpectedly (${signal ?? `code ${code}`}); stopping the mesh.`,
      );
      void stop(1);
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
  const rows = [["service", "address", "health", "store"]];
  try {
    for (const name of SERVICES) {
      if (!topology.services[name])
        throw new TopologyError(`${topology.file}: services.${name} is missing`);
      supervisor.start({ label: name, script: join(root, "dist", "services", name, "main.js") });
    }
    await Promise.all(
      SERVICES.map((name) => {
        const child = supervisor.processes.get(name);
        return waitForServing(
          topology.services[name].target,
          READY_TIMEOUT_MS,
          () => child?.exitCode === null,
        );
      }),
    );
    seed = await seedDemoData(topology);
    for (const name of SERVICES) {
      const service = topology.services[name];
      rows.push([
        name,
        service.target,
        await checkHealth(service.target),
        relative(root, service.store),
      ]);
    }
  } catch (err) {
    console.error(`\nstart:all failed: ${err instanceof Error ? err.message : String(err)}`);
    return stop(1);
  }
  const userId = seed.userIds.get("ada@example.com") ?? "";

  console.log(`
The mesh is up. ${seed.created > 0 ? `Seeded ${seed.created} demo users and products.` : "Demo data was already there."}

${table(rows)}

Try it with grpcurl (no proto files needed: every server has reflection):

${exampleCommands(topology, userId, randomBytes(3).toString("hex"))
  .map((c) => `  ${c}`)
  .join("\n")}

The second order asks for more kettles than are in stock and is rejected (FAILED_PRECONDITION).
Press Ctrl-C to stop everything.
`);
}

main().catch((err: unknown) => {
  console.error("start:all failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
