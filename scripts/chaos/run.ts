import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer, loadTopology, silentLogger, type Topology } from "../../mesh";
import { seededRandom } from "../../mesh/api";
import { projectRoot } from "../../mesh/config";
import { createTelemetry } from "../../mesh/telemetry";
import {
  memberServing,
  membersOf,
  metricsUrlOf,
  shopServices,
  startMember,
  type Member,
} from "../members";
import { prepareOperator } from "../operator";
import { runOrderLoad, type OrderLoadStats } from "../order-load";
import { createSupervisor } from "../supervisor";
import {
  checkInvariants,
  notificationLag,
  notificationsCaughtUp,
  pendingOrders,
  type InvariantResult,
} from "./invariants";
import { scrapeMeshCounters, type MeshCounters } from "./mesh-counters";
import { SCENARIOS, type ChaosAction } from "./scenarios";

/** Options for {@link runChaos}. */
export interface ChaosOptions {
  scenario: string;
  durationMs: number;
  ratePerSecond: number;
  /** A free port per service of shopServices(), in order; second instances are 100 up. */
  ports: number[];
  seed: number;
  /** Where progress lines go. Defaults to nowhere. */
  progress?: (line: string) => void;
}

/** A line of the run's timeline. */
export interface TimelineEntry {
  atMs: number;
  what: string;
}

/** Everything a chaos run measured. */
export interface ChaosReport {
  scenario: string;
  durationMs: number;
  ratePerSecond: number;
  load: OrderLoadStats;
  timeline: TimelineEntry[];
  /** For each restarted instance: ms from its restart until it served its first call. */
  trafficAfterRestartMs: Map<string, number>;
  /** How long the stores took to have no PENDING order once the load stopped. */
  settleMs: number;
  /** How long after that every ended order had its notification (when notifications runs). */
  catchUpMs?: number;
  /**
   * Order ended → its notification stored, in ms: over the run, and the worst for orders that
   * ended after the last restart of any instance.
   */
  notificationLag?: { p50: number; p99: number; max: number; maxAfterRecovery: number };
  invariants: InvariantResult[];
  /** Retries, hedges and ejections, from the members' metrics and the load's own client. */
  meshCounters: MeshCounters;
  logFile: string;
}

const INSTANCES: Record<string, number> = {
  users: 1,
  inventory: 2,
  payments: 2,
  orders: 2,
  notifications: 1,
};
const USERS = 20;
// Large stocks keep most orders confirmable; the limited one runs out, so rejections and
// compensations happen too.
const PRODUCTS = [
  { sku: "sku-espresso", units: 18, nanos: 500_000_000, stock: 100_000 },
  { sku: "sku-grinder", units: 129, nanos: 0, stock: 100_000 },
  { sku: "sku-mug", units: 9, nanos: 900_000_000, stock: 100_000 },
  { sku: "sku-limited", units: 59, nanos: 0, stock: 150 },
];
const SETTLE_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs the mesh in a scratch folder, drives a steady order load while the scenario kills,
 * restarts and injects faults, waits until no order is pending, stops the mesh and checks the
 * stores. Bounded in time and count; everything is on 127.0.0.1.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const scenario = SCENARIOS[options.scenario];
  if (!scenario)
    throw new Error(
      `unknown scenario "${options.scenario}"; known: ${Object.keys(SCENARIOS).join(", ")}`,
    );
  const root = projectRoot();
  const say = options.progress ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), "mesh-chaos-"));
  const logFile = join(dir, "services.log");
  const topologyFile = join(dir, "mesh.yaml");

  // The project's topology with scratch ports, stores and instance counts; faults are edited
  // in this copy while the run goes on, and the servers reload them.
  const doc = parseYaml(readFileSync(join(root, "mesh.yaml"), "utf8")) as {
    dataDir: string;
    services: Record<string, { port: number; instances: number }>;
    faults: object[];
  };
  doc.dataDir = dir;
  const services = shopServices();
  services.forEach((name, i) => {
    doc.services[name].port = options.ports[i];
    doc.services[name].instances = INSTANCES[name] ?? 1;
  });
  const writeTopology = (faults: object[]): void => {
    doc.faults = faults;
    writeFileSync(topologyFile, stringifyYaml(doc));
  };
  writeTopology([]);
  // The invariants read the stores as SQLite files in `dir`: a DATABASE_URL in the caller's
  // environment must not move the services to PostgreSQL (an empty value is ignored).
  const sqliteOnly = Object.fromEntries(
    ["DATABASE_URL", ...services.map((name) => `${name.toUpperCase()}_DATABASE_URL`)].map(
      (variable) => [variable, ""],
    ),
  );
  const env = { MESH_TOPOLOGY: topologyFile, MESH_DATA_DIR: dir, ...sqliteOnly };
  const topology: Topology = loadTopology({ ...process.env, ...env });

  const began = Date.now();
  const timeline: TimelineEntry[] = [];
  const note = (what: string): void => {
    timeline.push({ atMs: Date.now() - began, what });
    say(`${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s  ${what}`);
  };
  const restartedAt = new Map<string, number>();
  let lastRestartAt = began;
  const trafficAfterRestartMs = new Map<string, number>();
  const logLines: string[] = [];
  const supervisor = createSupervisor({
    color: false,
    write: (line) => {
      logLines.push(line);
      const match = / (\S+) +first call served/.exec(line);
      const label = match?.[1];
      if (label && restartedAt.has(label) && !trafficAfterRestartMs.has(label)) {
        trafficAfterRestartMs.set(label, Date.now() - (restartedAt.get(label) as number));
        note(
          `${label} served its first call ${trafficAfterRestartMs.get(label)} ms after its restart`,
        );
      }
    },
  });

  const members = membersOf(topology);
  const memberOf = (label: string): Member => {
    const member = members.find((m) => m.label === label);
    if (!member) throw new Error(`no instance ${label} in this topology`);
    return member;
  };

  // The load's client counts its own ejections of orders instances; no spans needed.
  const telemetry = createTelemetry({ service: "chaos", member: "chaos-1", log: silentLogger() });
  // The run calls the mesh as the operator, as start:all does.
  const { identity } = prepareOperator(topology, say);
  const operatorPeer = <S extends Parameters<typeof createPeer>[0]>(definition: S, name: string) =>
    createPeer(definition, {
      target: topology.services[name].target,
      policy: topology.policy,
      telemetry,
      ...identity.dialOptions(name),
    });
  const peers = {
    users: operatorPeer(UserServiceService, "users"),
    inventory: operatorPeer(InventoryServiceService, "inventory"),
    orders: operatorPeer(OrderServiceService, "orders"),
  };
  let counters: ReturnType<typeof scrapeMeshCounters> | undefined;

  try {
    for (const member of members) startMember(supervisor, root, member, env);
    await Promise.all(members.map((m) => memberServing(supervisor, m, READY_TIMEOUT_MS, identity)));
    note(`mesh up: ${members.map((m) => m.label).join(", ")}`);
    counters = scrapeMeshCounters(members.map(metricsUrlOf), telemetry.metrics.registry);

    const userIds: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const { user } = await peers.users.createUser({
        email: `chaos-${i}@example.com`,
        displayName: `Chaos ${i}`,
      });
      userIds.push(user?.userId ?? "");
    }
    for (const p of PRODUCTS) {
      await peers.inventory.createProduct({
        sku: p.sku,
        name: p.sku,
        description: "",
        price: { currencyCode: "USD", units: p.units, nanos: p.nanos },
        initialStock: p.stock,
      });
    }

    const act = async (action: ChaosAction): Promise<void> => {
      if (action.kind === "faults") {
        writeTopology(action.faults);
        note(
          action.faults.length === 0
            ? "faults removed"
            : `faults set: ${JSON.stringify(action.faults)}`,
        );
        return;
      }
      const child = supervisor.processes.get(action.label);
      if (!child) throw new Error(`no process ${action.label}`);
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(action.signal);
      note(`${action.signal} ${action.label}`);
      await exited;
      note(`${action.label} exited`);
      await sleep(action.restartAfterMs);
      restartedAt.set(action.label, Date.now());
      startMember(supervisor, root, memberOf(action.label), env);
      note(`${action.label} restarted`);
      await memberServing(supervisor, memberOf(action.label), READY_TIMEOUT_MS, identity);
      lastRestartAt = Date.now();
      note(
        `${action.label} SERVING ${Date.now() - (restartedAt.get(action.label) as number)} ms after its restart`,
      );
    };
    const actions: Promise<void>[] = [];
    const random = seededRandom(options.seed);
    // Kills at random moments (seeded, so a run can be repeated) when the scenario asks.
    const at = (share: number): number =>
      Math.max(0, share + (scenario.jitter ?? 0) * (2 * random() - 1)) * options.durationMs;
    const timers = scenario.events.map((event) =>
      setTimeout(() => actions.push(act(event.action)), at(event.at)),
    );

    note(
      `load: ${options.ratePerSecond} orders/s for ${options.durationMs / 1000} s (${options.scenario})`,
    );
    const load = await runOrderLoad({
      orders: peers.orders,
      userIds,
      skus: PRODUCTS.map((p) => p.sku),
      ratePerSecond: options.ratePerSecond,
      durationMs: options.durationMs,
      maxOrders: Math.ceil((options.ratePerSecond * options.durationMs) / 1000),
      random,
      runId: `chaos-${options.seed}`,
      onProgress: (s, elapsed) =>
        say(
          `${(elapsed / 1000).toFixed(1).padStart(5)}s  ${s.started} sent, ${s.confirmed} confirmed, ` +
            `${[...s.failed.values()].reduce((a, b) => a + b, 0)} failed, ${s.clientRetries} client retries`,
        ),
    });
    timers.forEach(clearTimeout);
    await Promise.all(actions);
    note(`load done: ${load.started} orders`);

    writeTopology([]);
    const settleStart = Date.now();
    const ordersFile = topology.services.orders.store;
    while ((await pendingOrders(ordersFile)) > 0) {
      if (Date.now() - settleStart > SETTLE_TIMEOUT_MS) break;
      await sleep(250);
    }
    const settleMs = Date.now() - settleStart;
    note(`stores settled in ${settleMs} ms`);

    // Every ended order becomes a notification through the event stream; wait for them.
    const notificationsFile = topology.services.notifications?.store;
    let catchUpMs: number | undefined;
    if (notificationsFile) {
      const catchUpStart = Date.now();
      while (!(await notificationsCaughtUp(ordersFile, notificationsFile))) {
        if (Date.now() - catchUpStart > SETTLE_TIMEOUT_MS) break;
        await sleep(100);
      }
      catchUpMs = Date.now() - catchUpStart;
      note(`notifications caught up ${catchUpMs} ms after the stores settled`);
    }

    const meshCounters = await counters.stop();
    counters = undefined;
    for (const peer of Object.values(peers)) peer.close();
    await supervisor.stopAll();
    note("mesh stopped");

    const invariants = await checkInvariants(
      {
        orders: ordersFile,
        inventory: topology.services.inventory.store,
        payments: topology.services.payments.store,
        notifications: notificationsFile,
      },
      {
        acknowledged: load.acknowledged,
        initialStock: new Map(PRODUCTS.map((p) => [p.sku, p.stock])),
      },
    );
    return {
      scenario: options.scenario,
      durationMs: options.durationMs,
      ratePerSecond: options.ratePerSecond,
      load,
      timeline,
      trafficAfterRestartMs,
      settleMs,
      catchUpMs,
      notificationLag: notificationsFile
        ? await notificationLag(ordersFile, notificationsFile, lastRestartAt - began)
        : undefined,
      invariants,
      meshCounters,
      logFile,
    };
  } finally {
    await counters?.stop();
    for (const peer of Object.values(peers)) peer.close();
    await supervisor.stopAll();
    writeFileSync(logFile, `${logLines.join("\n")}\n`);
  }
}
