import { randomBytes } from "node:crypto";
import { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { createPeer, loadTopology, type Peer } from "../mesh";
import { seededRandom } from "../mesh/api";
import { membersOf, metricsUrlOf, shopServices } from "../scripts/members";
import { seedLoadData, startScratchMesh, type ScratchMesh } from "../scripts/scratch-mesh";
import { runLoad } from "../scripts/loadtest/driver";
import { parsePrometheusText } from "../services/gateway/dashboard/prom-text";
import { processCpuMs, processSwitches, threadPoolCpuMs } from "./child";
import { runClosedLoop, type CallFn } from "./closed-loop";
import { benchScript, type BenchConfig } from "./config";
import type { SectionResult } from "./report";
import { median, round3 } from "../scripts/stats";

// What placing an order needs: orders and the services it depends on, from mesh.yaml.
const GRAPH = shopServices(["orders"]);
const LOAD_USERS = 20;
const LOAD_PRODUCTS = 10;
const ONE_EACH = Object.fromEntries(GRAPH.map((name) => [name, 1]));
// The samples of the echo graph sent orders at the rate the real graph reached (open loop).
const ECHO_AT_REAL = "echo at real rate";
// The echo and the real graph with twice the orders in flight: do the ratios hold there?
const ECHO_DOUBLED = "echo, twice in flight";
const REAL_DOUBLED = "real, twice in flight";

/**
 * The same mesh, but each member runs the echo graph's server (graph-server.ts) instead of the
 * service: the same topology, certificates, access control and telemetry, no handlers' work.
 * With `floor`, each also does its share of the store floor (store-floor.ts) before answering.
 */
const startEchoGraph = (floor: boolean): Promise<ScratchMesh> =>
  startScratchMesh({
    services: GRAPH,
    instances: ONE_EACH,
    entry: (service) => ({
      script: benchScript("graph-server"),
      args: floor ? ["--floor", service] : [service],
    }),
  });

/** Places one order: a fresh request_id each, one line of a random product. */
type PlaceOrder = () => Promise<unknown>;

function placeOrders(
  orders: Peer<typeof OrderServiceService>,
  userIds: string[],
  skus: string[],
): PlaceOrder {
  const runId = randomBytes(4).toString("hex");
  const random = seededRandom(11);
  let n = 0;
  return () =>
    orders.placeOrder({
      requestId: `bench-${runId}-${n++}`,
      userId: userIds[Math.floor(random() * userIds.length)],
      items: [{ sku: skus[Math.floor(random() * skus.length)], quantity: 1 }],
      paymentMethod: "tok_visa",
    });
}

/**
 * How a round loads a graph: a fixed number of orders in flight, or a fixed rate of them with
 * at most `maxInFlight` at once (an order due when that many are in flight is dropped).
 */
type Load = { inFlight: number } | { perSecond: number; maxInFlight: number };

/** What one round of load measured. */
interface LoadRun {
  calls: number;
  errors: number;
  /** Orders of an open loop dropped because `maxInFlight` were in flight. */
  dropped: number;
  firstError?: string;
  rps: number;
  latency: { p50: number; p99: number };
}

/**
 * Runs `place` for `ms`: closed (each of `inFlight` callers places its next order when its last
 * one is answered) or open (orders sent at `perSecond`, whatever the answers do; latency from
 * each order's intended send time, scripts/loadtest/driver.ts).
 */
async function loadFor(place: PlaceOrder, load: Load, ms: number): Promise<LoadRun> {
  if ("inFlight" in load) {
    const call: CallFn = (done) => void place().then(() => done(null), done);
    return {
      ...(await runClosedLoop(call, { concurrency: load.inFlight, durationMs: ms })),
      dropped: 0,
    };
  }
  let firstError: string | undefined;
  const r = await runLoad({
    model: { kind: "rate", perSecond: load.perSecond, maxInFlight: load.maxInFlight },
    durationMs: ms,
    maxRequests: Infinity,
    next: () => ({
      method: "PlaceOrder",
      run: () =>
        place().catch((err: unknown) => {
          firstError ??= err instanceof Error ? err.message : String(err);
          throw err;
        }),
    }),
  });
  return {
    calls: r.sent,
    errors: r.sent - r.ok,
    dropped: r.dropped,
    firstError,
    rps: r.rps,
    latency: r.latency,
  };
}

interface GraphSample {
  rps: number;
  p50: number;
  p99: number;
  /** CPU per order, in milliseconds, of each service's process (its thread pool included). */
  cpu: Record<string, number>;
  /** CPU per order, in milliseconds, of the four processes' thread pools (sqlite3, files). */
  pool: number;
  /** Context switches per order, all threads of the four processes. */
  switches: number;
  /** Garbage collection per order, in milliseconds, the four processes' pauses together. */
  gc: number;
}

/** What the graph's processes have used so far, read from /proc between rounds. */
interface Counters {
  /** CPU milliseconds of each service's process, its threads together. */
  cpu: Record<string, number>;
  /** CPU milliseconds of the four processes' thread pools. */
  pool: number;
  /** Context switches of all threads of the four processes. */
  switches: number;
}

function countersOf(mesh: ScratchMesh): Counters {
  const pids = mesh.pids();
  const pidOf = (name: string): number => pids.get(name) as number;
  return {
    cpu: Object.fromEntries(GRAPH.map((name) => [name, processCpuMs(pidOf(name))])),
    pool: GRAPH.reduce((sum, name) => sum + threadPoolCpuMs(pidOf(name)), 0),
    switches: GRAPH.reduce((sum, name) => sum + processSwitches(pidOf(name)), 0),
  };
}

/**
 * Milliseconds the four processes have spent in garbage collection so far, together: the sum
 * of prom-client's `nodejs_gc_duration_seconds_sum` (every kind of collection, as Node's
 * `PerformanceObserver` reports its pauses) on each member's /metrics.
 */
async function gcMsOf(mesh: ScratchMesh): Promise<number> {
  const seconds = await Promise.all(
    membersOf(mesh.topology, GRAPH).map(async (member) => {
      const response = await fetch(metricsUrlOf(member));
      if (!response.ok) throw new Error(`${metricsUrlOf(member)}: HTTP ${response.status}`);
      return parsePrometheusText(await response.text())
        .filter((sample) => sample.name === "nodejs_gc_duration_seconds_sum")
        .reduce((sum, sample) => sum + sample.value, 0);
    }),
  );
  return seconds.reduce((a, b) => a + b, 0) * 1_000;
}

/**
 * Section c: PlaceOrder through orders → users, inventory, payments (four processes, one
 * instance each) with echo handlers, against the real services on real SQLite stores, in
 * alternating rounds at the same concurrency.
 */
export async function runPlaceOrder(config: BenchConfig): Promise<SectionResult> {
  const meshes: ScratchMesh[] = [];
  const peers: Peer<typeof OrderServiceService>[] = [];
  try {
    const policy = loadTopology().policy;
    const echo = await startEchoGraph(false);
    meshes.push(echo);
    const floor = await startEchoGraph(true);
    meshes.push(floor);
    const mesh = await startScratchMesh({ services: GRAPH, instances: ONE_EACH });
    meshes.push(mesh);
    const data = await seedLoadData(
      mesh.topology,
      randomBytes(3).toString("hex"),
      LOAD_USERS,
      LOAD_PRODUCTS,
      mesh.identity,
    );
    const ordersOf = (graph: ScratchMesh): Peer<typeof OrderServiceService> => {
      const peer = createPeer(OrderServiceService, {
        target: graph.topology.services.orders.target,
        policy,
        ...graph.identity.dialOptions("orders"),
      });
      peers.push(peer);
      return peer;
    };
    const echoGraph = {
      name: "echo",
      mesh: echo,
      place: placeOrders(ordersOf(echo), ["usr_echo"], ["sku-echo"]),
    };
    const realGraph = {
      name: "real",
      mesh,
      place: placeOrders(ordersOf(mesh), data.userIds, data.skus),
    };
    const graphs = [
      echoGraph,
      {
        name: "floor",
        mesh: floor,
        place: placeOrders(ordersOf(floor), ["usr_echo"], ["sku-echo"]),
      },
      realGraph,
    ];
    // Plus the echo graph sent orders at the rate the real graph just managed (ECHO_AT_REAL),
    // and both graphs with twice the orders in flight (ECHO_DOUBLED, REAL_DOUBLED).
    const samples = new Map<string, GraphSample[]>(
      [...graphs.map((g) => g.name), ECHO_AT_REAL, ECHO_DOUBLED, REAL_DOUBLED].map((name) => [
        name,
        [],
      ]),
    );
    // Twice the orders in flight: the doubled rounds' load, and the open loop's bound, so that
    // a stall of the echo graph cannot pile up more orders than a server admits (mesh.yaml
    // limits.maxConcurrentCalls: they would be shed and the run would fail).
    const twice = 2 * config.orderConcurrency;
    const closed: Load = { inFlight: config.orderConcurrency };
    const doubled: Load = { inFlight: twice };
    let dropped = 0;
    const run = async (
      graph: (typeof graphs)[number],
      ms: number,
      load: Load = closed,
    ): Promise<GraphSample> => {
      // Scraped outside the CPU window, so that rendering /metrics is not counted.
      const gcBefore = await gcMsOf(graph.mesh);
      const before = countersOf(graph.mesh);
      const r = await loadFor(graph.place, load, ms);
      dropped += r.dropped;
      if (r.errors > 0) throw new Error(`PlaceOrder: ${r.errors} calls failed: ${r.firstError}`);
      const after = countersOf(graph.mesh);
      const gc = (await gcMsOf(graph.mesh)) - gcBefore;
      const orders = Math.max(1, r.calls);
      const cpu = Object.fromEntries(
        GRAPH.map((name) => [name, (after.cpu[name] - before.cpu[name]) / orders]),
      ) as GraphSample["cpu"];
      return {
        rps: r.rps,
        p50: r.latency.p50,
        p99: r.latency.p99,
        cpu,
        pool: (after.pool - before.pool) / orders,
        switches: (after.switches - before.switches) / orders,
        gc: gc / orders,
      };
    };
    for (const g of graphs) await run(g, config.warmupMs);
    for (let round = 0; round < config.rounds; round++) {
      for (const g of round % 2 === 0 ? graphs : [...graphs].reverse()) {
        samples.get(g.name)?.push(await run(g, config.roundMs));
      }
      const realRate = samples.get("real")?.at(-1)?.rps ?? 1;
      const atRealRate: Load = { perSecond: Math.max(1, realRate), maxInFlight: twice };
      samples.get(ECHO_AT_REAL)?.push(await run(echoGraph, config.roundMs, atRealRate));
      samples.get(ECHO_DOUBLED)?.push(await run(echoGraph, config.roundMs, doubled));
      samples.get(REAL_DOUBLED)?.push(await run(realGraph, config.roundMs, doubled));
    }
    const med = (name: string, k: Exclude<keyof GraphSample, "cpu">): number =>
      median((samples.get(name) ?? []).map((s) => s[k]));
    // A service of GRAPH, or "all" for their sum.
    const cpuMed = (name: string, service: string): number =>
      median(
        (samples.get(name) ?? []).map((s) =>
          service === "all" ? GRAPH.reduce((sum, g) => sum + s.cpu[g], 0) : s.cpu[service],
        ),
      );
    const ratio = round3(med("real", "rps") / med("echo", "rps"));
    const cpuRatio = round3(cpuMed("real", "all") / cpuMed("echo", "all"));
    const floorRatio = round3(med("floor", "rps") / med("echo", "rps"));
    const floorCpuRatio = round3(cpuMed("floor", "all") / cpuMed("echo", "all"));
    const sameRateCpuRatio = round3(cpuMed("real", "all") / cpuMed(ECHO_AT_REAL, "all"));
    // What an order of the real graph adds at the same rate, and the thread pools' part of it.
    const extraMs = cpuMed("real", "all") - cpuMed(ECHO_AT_REAL, "all");
    const poolExtraMs = med("real", "pool") - med(ECHO_AT_REAL, "pool");
    const otherMs = extraMs - poolExtraMs;
    // What twice the orders in flight adds to each graph's orders per second, and the ratios there.
    const echoGain = med(ECHO_DOUBLED, "rps") / med("echo", "rps") - 1;
    const realGain = med(REAL_DOUBLED, "rps") / med("real", "rps") - 1;
    const percent = (gain: number): string => `${gain >= 0 ? "+" : ""}${Math.round(gain * 100)} %`;
    const doubledRatio = round3(med(REAL_DOUBLED, "rps") / med(ECHO_DOUBLED, "rps"));
    const doubledCpuRatio = round3(cpuMed(REAL_DOUBLED, "all") / cpuMed(ECHO_DOUBLED, "all"));
    const row = (label: string, name: string): (string | number)[] => [
      label,
      Math.round(med(name, "rps")),
      med(name, "p50").toFixed(2),
      med(name, "p99").toFixed(2),
      ...GRAPH.map((service) => cpuMed(name, service).toFixed(2)),
      cpuMed(name, "all").toFixed(2),
      med(name, "pool").toFixed(2),
      Math.round(med(name, "switches")),
      med(name, "gc").toFixed(2),
    ];
    return {
      id: "c",
      title: "PlaceOrder end to end vs its physical limit (echo call graph)",
      setup: `orders → users.GetUser, inventory.ReserveStock, payments.Charge, four processes with one instance each, every graph as a user runs the mesh (mTLS, access control, telemetry); ${config.orderConcurrency} orders in flight; ${config.rounds} alternating rounds of ${config.roundMs} ms after ${config.warmupMs} ms warm-up; medians of rounds.`,
      columns: [
        "graph",
        "orders/s",
        "p50 ms",
        "p99 ms",
        ...GRAPH.map((service) => `${service} CPU ms/order`),
        "all four",
        "of it, thread pools",
        "switches/order",
        "GC ms/order",
      ],
      rows: [
        row("echo handlers, no stores", "echo"),
        row("store floor: echo + least sqlite3", "floor"),
        row("real services, SQLite", "real"),
        row("echo handlers at the real graph's rate", ECHO_AT_REAL),
        row(`echo handlers, ${twice} in flight`, ECHO_DOUBLED),
        row(`real services, ${twice} in flight`, REAL_DOUBLED),
      ],
      figures: {
        echo_orders_per_s: round3(med("echo", "rps")),
        real_orders_per_s: round3(med("real", "rps")),
        real_over_echo: ratio,
        echo_p99_ms: round3(med("echo", "p99")),
        real_p99_ms: round3(med("real", "p99")),
        real_p50_ms: round3(med("real", "p50")),
        echo_cpu_ms_per_order: round3(cpuMed("echo", "all")),
        real_cpu_ms_per_order: round3(cpuMed("real", "all")),
        real_orders_cpu_ms_per_order: round3(cpuMed("real", "orders")),
        real_over_echo_cpu_per_order: cpuRatio,
        echo_switches_per_order: round3(med("echo", "switches")),
        real_switches_per_order: round3(med("real", "switches")),
        echo_gc_ms_per_order: round3(med("echo", "gc")),
        real_gc_ms_per_order: round3(med("real", "gc")),
        floor_orders_per_s: round3(med("floor", "rps")),
        floor_over_echo: floorRatio,
        floor_cpu_ms_per_order: round3(cpuMed("floor", "all")),
        floor_over_echo_cpu_per_order: floorCpuRatio,
        floor_switches_per_order: round3(med("floor", "switches")),
        floor_gc_ms_per_order: round3(med("floor", "gc")),
        echo_at_real_rate_cpu_ms_per_order: round3(cpuMed(ECHO_AT_REAL, "all")),
        echo_at_real_rate_switches_per_order: round3(med(ECHO_AT_REAL, "switches")),
        echo_pool_cpu_ms_per_order: round3(med("echo", "pool")),
        real_pool_cpu_ms_per_order: round3(med("real", "pool")),
        echo_at_real_rate_pool_cpu_ms_per_order: round3(med(ECHO_AT_REAL, "pool")),
        real_over_echo_cpu_per_order_at_real_rate: sameRateCpuRatio,
        echo_orders_per_s_twice_in_flight: round3(med(ECHO_DOUBLED, "rps")),
        real_orders_per_s_twice_in_flight: round3(med(REAL_DOUBLED, "rps")),
        real_over_echo_twice_in_flight: doubledRatio,
        real_over_echo_cpu_per_order_twice_in_flight: doubledCpuRatio,
      },
      targets: [
        { name: "real / echo orders per second", value: ratio, target: "≥ 0.4", met: ratio >= 0.4 },
        {
          name: "CPU per order, all four services, real / echo",
          value: cpuRatio,
          target: "≤ 2.5",
          met: cpuRatio <= 2.5,
        },
      ],
      notes: [
        "Bound: CPU per order (the columns). The echo graph is four mesh hops per order through the same processes and mesh; the real one adds validation and 10 statements in 4 durable write transactions (orders: create PENDING with its lines; finish, the lines' prices and an outbox event; inventory: claim the order id, take the stock, the lines; payments: the payment and an outbox event). Users reads each user once and then answers from memory (users never change). In the steady state no statement is awaited for its answer: each transaction's BEGIN, statements and COMMIT go to sqlite3's thread pool together, one exec, one trip (Statement.defer). The two writes whose row count matters (inventory's take of the stock at the price it last read, orders' update that ends a PENDING order) are guarded: another count fails the write, which then runs step by step (a first read of a sku's price, a shortage, an order another run ended). A duplicate (a replayed request) is refused by a unique key, which fails the write. So 4 trips per order, one per transaction, as in the store floor. Each COMMIT is an fsync. A trip costs several context switches (switches/order; the echo graph's threads hardly sleep). GC ms/order is the four processes' garbage-collection pauses (their main threads; V8's helper threads collect too, in CPU but not in this column). docs/BENCHMARKS.md (section c) has the arithmetic.",
        `The store floor is the echo graph plus the least node-sqlite3 work a durable order needs and nothing else (bench/store-floor.ts): inventory and payments write one row each and orders two (PENDING, then the outcome), group-committed with each group one exec (BEGIN IMMEDIATE, the inserts, COMMIT: one trip, one fsync); users reads nothing (users never change, and its store answers a user read once from memory). No knex, spans or business logic: with this driver no real graph can do better. Floor / echo: ${floorRatio} orders per second, ${floorCpuRatio}× the CPU per order.`,
        `The fourth row is the echo graph sent orders at the rate the real graph reached in the same round (an open loop, as proxies' CPU is compared at a fixed request rate, with at most ${twice} in flight: ${dropped} orders came due with that many in flight and were dropped in this run), to tell the work an order adds from what a lower rate costs by itself: a process that sleeps between calls pays for every wake (cold caches, a context switch) and batches nothing, so each call costs it more CPU than in a busy process. At that rate the real graph spends ${sameRateCpuRatio}× the echo graph's CPU per order: ${extraMs.toFixed(2)} ms more, of which the thread pools (sqlite3's statements and fsyncs: the column "of it, thread pools") ${poolExtraMs.toFixed(2)} ms and the processes' other threads ${otherMs >= 0 ? `${otherMs.toFixed(2)} ms more` : `${(-otherMs).toFixed(2)} ms less`}. The targets compare the graphs flat out, at the same number in flight, where the echo graph runs at ${(1 / ratio).toFixed(1)}× the real graph's rate.`,
        `Twice the orders in flight (the last two rows, ${twice}): the echo graph placed ${percent(echoGain)} and the real graph ${percent(realGain)} orders per second, real / echo ${doubledRatio} and ${doubledCpuRatio}× the CPU per order. A closed loop holds a graph below what it can do until enough orders are in flight to cover its latency, and the real graph's is several times the echo graph's (4 commits per order); past that, a busier process still batches more per wake, so "flat out" depends on the number in flight. At ${config.orderConcurrency} both graphs are past the steep part of that climb on a 2-core machine, and twice as many stays well under a server's limit of calls in flight (mesh.yaml limits.maxConcurrentCalls, 256); docs/BENCHMARKS.md (round 13) has the ratios from 16 to 192 in flight.`,
      ],
    };
  } finally {
    for (const p of peers) p.close();
    await Promise.all(meshes.map((m) => m.stop()));
  }
}
