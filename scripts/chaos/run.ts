import { createWriteStream, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { InventoryServiceService } from "../../gen/shop/inventory/v1/inventory";
import { OrderServiceService } from "../../gen/shop/orders/v1/orders";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import { createPeer, loadTopology, silentLogger, type Topology } from "../../mesh";
import { seededRandom } from "../../mesh/api";
import { projectRoot } from "../../mesh/config";
import { createTelemetry } from "../../mesh/telemetry";
import { memberEnv, membersOf, serviceEntry, shopServices, type Member } from "../members";
import { prepareOperator } from "../operator";
import { runOrderLoad, type OrderLoadStats } from "../order-load";
import { createSupervisor, MESH_RESTART_POLICY } from "../supervisor";
import { watchAvailability, type Availability } from "./availability";
import {
  checkInvariants,
  notificationLag,
  notificationsCaughtUp,
  pendingOrders,
  type InvariantResult,
} from "./invariants";
import { handledCalls, scrapeMeshCounters, type MeshCounters } from "./mesh-counters";
import { networkPlacement } from "./netns";
import { loopbackPlacement, type Placement } from "./placement";
import { SCENARIOS, type ChaosAction, type ChaosTarget, type ScenarioTargets } from "./scenarios";
import { checkTargets, type TargetResult } from "./targets";

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

/** An instance that was stopped and came back, in ms of run time. */
export interface Rejoin {
  label: string;
  how: "SIGKILL" | "SIGTERM" | "port held";
  /** When it was signalled. */
  killedAtMs: number;
  /** When its process had exited. */
  exitedAtMs?: number;
  /** When another socket let go of its port (port held). */
  portFreedAtMs?: number;
  /** Its first SERVING answer after that. */
  servingAtMs?: number;
  /** When it logged its first served call after that. */
  firstCallAtMs?: number;
}

/** An instance whose network was healed, and when it served calls again, in ms of run time. */
export interface Heal {
  label: string;
  healedAtMs: number;
  /** When its handled-calls counter first grew after the heal; undefined if not before the load ended. */
  callsAgainAtMs?: number;
}

/** Everything a chaos run measured. */
export interface ChaosReport {
  scenario: string;
  durationMs: number;
  ratePerSecond: number;
  /** Where the members ran (loopback, or hosts of their own). */
  placement: string;
  load: OrderLoadStats;
  timeline: TimelineEntry[];
  /** Every instance that was stopped, and when it was SERVING and taking calls again. */
  rejoins: Rejoin[];
  /** Every instance whose degraded network was healed, and when it took calls again. */
  heals: Heal[];
  /** The machine's 1-minute load average (os.loadavg) when the load began and ended. */
  loadAverage: { atStart: number; atEnd: number };
  /** Per service, the longest time it had no SERVING instance (health polled every 100 ms). */
  availability: Availability;
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
  /** The scenario's targets (error rates, p99, outages, ejections) and whether they were met. */
  targets: TargetResult[];
  /** Retries, hedges and ejections, from the members' metrics and the load's own client. */
  meshCounters: MeshCounters;
  logFile: string;
}

// Two of everything that can be two; notifications keeps one consumer cursor.
const INSTANCES: Record<string, number> = {
  users: 2,
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
// How often a healed instance's metrics are read until it takes calls again.
const HEAL_POLL_MS = 200;
const READY_TIMEOUT_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Another socket on `host:port`, as a stray process holding a member's port would be. It
 * hangs up on whoever connects, so that clients fail fast and try again, rather than wait
 * in a handshake nobody answers (which also kept `close()` from finishing).
 */
function holdPort(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

/**
 * Runs the mesh in a scratch folder, as start:all does (the same supervisor and restart
 * policy), drives a steady order load while the scenario kills, drains, holds ports, injects
 * faults or degrades the network, waits until no order is pending, stops the mesh and checks
 * the stores and the scenario's targets. Bounded in time and count; traffic goes only to
 * 127.0.0.1 or to network namespaces the run made.
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
  // Written beside it and renamed over it: members (re)starting read mesh.yaml while the
  // faults change, and a write in place let a restarting orders-2 read it empty and exit
  // ("expected a YAML mapping at the top level", CI's chaos run, 2026-12-06).
  const writeTopology = (faults: object[]): void => {
    doc.faults = faults;
    writeFileSync(`${topologyFile}.next`, stringifyYaml(doc));
    renameSync(`${topologyFile}.next`, topologyFile);
  };
  writeTopology([]);
  // The invariants read the stores as SQLite files in `dir`: a DATABASE_URL in the caller's
  // environment must not move the services to PostgreSQL (an empty value is ignored).
  const sqliteOnly = Object.fromEntries(
    ["DATABASE_URL", ...services.map((name) => `${name.toUpperCase()}_DATABASE_URL`)].map(
      (variable) => [variable, ""],
    ),
  );
  // Members run as start:all runs them (memberEnv: young generation, compile cache, arenas).
  const env = {
    ...memberEnv(root),
    MESH_TOPOLOGY: topologyFile,
    MESH_DATA_DIR: dir,
    ...sqliteOnly,
  };
  const topology: Topology = loadTopology({ ...process.env, ...env });
  const members = membersOf(topology);
  const memberOf = (label: string): Member => {
    const member = members.find((m) => m.label === label);
    if (!member) throw new Error(`no instance ${label} in this topology`);
    return member;
  };

  const began = Date.now();
  const runMs = (): number => Date.now() - began;
  const timeline: TimelineEntry[] = [];
  const note = (what: string): void => {
    timeline.push({ atMs: runMs(), what });
    log.write(`[chaos] ${(runMs() / 1000).toFixed(1)}s ${what}\n`);
    say(`${(runMs() / 1000).toFixed(1).padStart(5)}s  ${what}`);
  };
  const rejoins: Rejoin[] = [];
  const heals: Heal[] = [];
  let loadEnded = false;
  let lastRestartAt = began;
  // Written as lines come, so that the log is there even if the run is killed.
  const log = createWriteStream(logFile);
  const supervisor = createSupervisor({
    color: false,
    restart: MESH_RESTART_POLICY,
    write: (line) => {
      log.write(`${line}\n`);
      const label = / (\S+) +first call served/.exec(line)?.[1];
      const rejoin = rejoins.findLast((r) => r.label === label);
      // Its first call can come before the health poll (every 100 ms) sees it SERVING.
      if (rejoin && rejoin.firstCallAtMs === undefined) {
        rejoin.firstCallAtMs = runMs();
        note(
          rejoin.servingAtMs === undefined
            ? `${rejoin.label} served its first call, before the health poll saw it SERVING`
            : `${rejoin.label} served its first call, ${rejoin.firstCallAtMs - rejoin.servingAtMs} ms after SERVING`,
        );
      }
    },
    onExit: (exit) =>
      note(
        `${exit.label} exited (${exit.clean ? "code 0, clean" : (exit.signal ?? `code ${exit.code}`)}); restart in ${exit.restartInMs} ms`,
      ),
    onRestart: (label) => {
      lastRestartAt = Date.now();
      note(`${label} restarted`);
    },
  });

  // The load's client counts its own ejections of orders instances; no spans needed.
  const telemetry = createTelemetry({ service: "chaos", member: "chaos-1", log: silentLogger() });
  // The run calls the mesh as the operator, as start:all does.
  const { identity } = prepareOperator(topology, say);
  let placement: Placement | undefined;
  const peers: { close(): void }[] = [];
  let counters: ReturnType<typeof scrapeMeshCounters> | undefined;
  let monitor: ReturnType<typeof watchAvailability> | undefined;
  const held: Server[] = [];

  try {
    placement = scenario.network
      ? await networkPlacement(topology, members, { say })
      : loopbackPlacement(topology);
    const where = placement;
    note(`placement: ${where.description}`);
    for (const member of members) {
      supervisor.start({
        label: member.label,
        ...serviceEntry(root, member.service),
        env: { ...env, ...where.envOf(member), MESH_INSTANCE: String(member.instance) },
        wrapper: where.wrapperOf(member),
      });
    }
    const watch = watchAvailability(
      members.map((m) => ({
        label: m.label,
        service: m.service,
        address: where.addressOf(m),
        dial: identity.dialOptions(m.service),
      })),
      began,
    );
    monitor = watch;
    await Promise.all(members.map((m) => watch.servingAfter(m.label, 0, READY_TIMEOUT_MS)));
    note(`mesh up: ${members.map((m) => m.label).join(", ")}`);
    counters = scrapeMeshCounters(
      members.map((m) => where.metricsUrlOf(m)),
      telemetry.metrics.registry,
    );

    const operatorPeer = <S extends Parameters<typeof createPeer>[0]>(
      definition: S,
      name: string,
    ) => {
      const peer = createPeer(definition, {
        target: where.targetOf(name),
        policy: topology.policy,
        telemetry,
        ...identity.dialOptions(name),
      });
      peers.push(peer);
      return peer;
    };
    const usersPeer = operatorPeer(UserServiceService, "users");
    const inventoryPeer = operatorPeer(InventoryServiceService, "inventory");
    const ordersPeer = operatorPeer(OrderServiceService, "orders");

    const userIds: string[] = [];
    for (let i = 0; i < USERS; i++) {
      const { user } = await usersPeer.createUser({
        email: `chaos-${i}@example.com`,
        displayName: `Chaos ${i}`,
      });
      userIds.push(user?.userId ?? "");
    }
    const limitedStock = scenario.load?.limitedStock;
    const products = PRODUCTS.map((p) =>
      p.sku === "sku-limited" && limitedStock !== undefined ? { ...p, stock: limitedStock } : p,
    );
    for (const p of products) {
      await inventoryPeer.createProduct({
        sku: p.sku,
        name: p.sku,
        description: "",
        price: { currencyCode: "USD", units: p.units, nanos: p.nanos },
        initialStock: p.stock,
      });
    }

    /** The label a target names: as written, or the busiest instance of a service now. */
    const resolve = async (target: ChaosTarget): Promise<Member> => {
      if (typeof target === "string") return memberOf(target);
      const candidates = members.filter((m) => m.service === target.busiest);
      const calls = await Promise.all(candidates.map((m) => handledCalls(where.metricsUrlOf(m))));
      const busiest = calls.indexOf(Math.max(...calls));
      note(
        `busiest ${target.busiest}: ${candidates.map((m, i) => `${m.label} ${calls[i]} calls`).join(", ")}`,
      );
      return candidates[busiest];
    };

    /** Watches a healed instance's handled calls until they grow, or the load ends. */
    const callsAgain = async (label: string, url: string, before: number): Promise<void> => {
      const heal: Heal = { label, healedAtMs: runMs() };
      heals.push(heal);
      while (!loadEnded) {
        if ((await handledCalls(url)) > before) {
          heal.callsAgainAtMs = runMs();
          note(
            `${label} took calls again, ${heal.callsAgainAtMs - heal.healedAtMs} ms after the heal`,
          );
          return;
        }
        await sleep(HEAL_POLL_MS);
      }
      note(`${label} took no call between the heal and the end of the load`);
    };

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
      const member = await resolve(action.target);
      if (action.kind === "netem") {
        const towards =
          action.towards && members.filter((m) => action.towards?.includes(m.service));
        const url = where.metricsUrlOf(member);
        const before = action.netem === null ? await handledCalls(url) : 0;
        note(await where.netem(member, action.netem, towards));
        if (action.netem === null) await callsAgain(member.label, url, before);
        return;
      }
      const child = supervisor.processes.get(member.label);
      if (!child) throw new Error(`no process ${member.label}`);
      const exited = new Promise((done) => child.once("exit", done));
      const signal = action.kind === "kill" ? action.signal : "SIGKILL";
      const rejoin: Rejoin = {
        label: member.label,
        how: action.kind === "kill" ? action.signal : "port held",
        killedAtMs: runMs(),
      };
      child.kill(signal);
      note(`${signal} ${member.label}`);
      await exited;
      rejoin.exitedAtMs = runMs();
      let since = rejoin.killedAtMs;
      if (action.kind === "hold-port") {
        const address = where.addressOf(member);
        const colon = address.lastIndexOf(":");
        const holder = await holdPort(address.slice(0, colon), Number(address.slice(colon + 1)));
        held.push(holder);
        note(`another socket holds ${address} for ${action.holdMs / 1000} s`);
        await sleep(action.holdMs);
        await new Promise((done) => holder.close(done));
        held.splice(held.indexOf(holder), 1);
        rejoin.portFreedAtMs = since = runMs();
        note(`${address} is free again`);
      }
      rejoins.push(rejoin);
      rejoin.servingAtMs = await watch.servingAfter(member.label, since, READY_TIMEOUT_MS);
      note(
        `${member.label} SERVING ${rejoin.servingAtMs - since} ms after ${action.kind === "hold-port" ? "its port was freed" : `the ${signal}`}`,
      );
    };
    const actions: Promise<void>[] = [];
    const random = seededRandom(options.seed);
    // Kills at random moments (seeded, so a run can be repeated) when the scenario asks.
    const at = (share: number): number =>
      Math.max(0, share + (scenario.jitter ?? 0) * (2 * random() - 1)) * options.durationMs;
    const failures: unknown[] = [];
    const timers = scenario.events.map((event) =>
      setTimeout(
        () => actions.push(act(event.action).catch((err: unknown) => void failures.push(err))),
        at(event.at),
      ),
    );

    note(
      `load: ${options.ratePerSecond} orders/s for ${options.durationMs / 1000} s (${options.scenario})`,
    );
    const loadAverageAtStart = loadavg()[0];
    const load = await runOrderLoad({
      orders: ordersPeer,
      userIds,
      skus: products.map((p) => p.sku),
      ratePerSecond: options.ratePerSecond,
      durationMs: options.durationMs,
      maxOrders: Math.ceil((options.ratePerSecond * options.durationMs) / 1000),
      declineShare: scenario.load?.declineShare,
      random,
      runId: `chaos-${options.seed}`,
      onProgress: (s, elapsed) =>
        say(
          `${(elapsed / 1000).toFixed(1).padStart(5)}s  ${s.started} sent, ${s.confirmed} confirmed, ` +
            `${[...s.failed.values()].reduce((a, b) => a + b, 0)} failed, ${s.clientRetries} client retries`,
        ),
    });
    loadEnded = true;
    const loadAverageAtEnd = loadavg()[0];
    timers.forEach(clearTimeout);
    await Promise.all(actions);
    if (failures.length > 0) throw failures[0];
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
    const availability = watch.stop();
    monitor = undefined;
    for (const peer of peers.splice(0)) peer.close();
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
        initialStock: new Map(products.map((p) => [p.sku, p.stock])),
      },
    );
    const report: ChaosReport = {
      scenario: options.scenario,
      durationMs: options.durationMs,
      ratePerSecond: options.ratePerSecond,
      placement: where.description,
      load,
      timeline,
      rejoins,
      heals,
      loadAverage: { atStart: loadAverageAtStart, atEnd: loadAverageAtEnd },
      availability,
      settleMs,
      catchUpMs,
      notificationLag: notificationsFile
        ? await notificationLag(ordersFile, notificationsFile, lastRestartAt - began)
        : undefined,
      invariants,
      targets: [],
      meshCounters,
      logFile,
    };
    report.targets = checkTargets(report, scenario.targets ?? ({} satisfies ScenarioTargets));
    return report;
  } finally {
    await counters?.stop();
    monitor?.stop();
    for (const peer of peers) peer.close();
    await Promise.all(held.map((h) => new Promise((done) => h.close(done))));
    await supervisor.stopAll();
    await placement?.close();
    await new Promise((done) => log.end(done));
  }
}
