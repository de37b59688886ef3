/**
 * `npm run start:all`: every service of the mesh as its own process on its port, health
 * checked, demo data seeded, and ready-to-paste grpcurl commands. Ctrl-C stops it all.
 * `npm run start:all -- --plaintext` (or MESH_PLAINTEXT=1) runs it without TLS.
 */
import { randomBytes } from "node:crypto";
import { isAbsolute, relative } from "node:path";
import {
  describeStore,
  loadTopology,
  projectRoot,
  TopologyError,
  type Topology,
} from "../mesh/config";
import { certificateFiles, operatorOf } from "../mesh/identity";
import { gatewayAddress } from "../services/gateway/address";
import { browserPortWarnings } from "../services/gateway/browser-ports";
import { readFlags } from "./cli";
import {
  GATEWAY_LABEL,
  gatewayServing,
  memberEnv,
  memberServing,
  membersOf,
  metricsUrlOf,
  startGateway,
  startMember,
} from "./members";
import { prepareOperator } from "./operator";
import { DEMO_LOGIN, DEMO_PASSWORD, SEEDED_SERVICES, seedDemoData, type SeedResult } from "./seed";
import { serveSupervisorMetrics, supervisorPort } from "./supervisor-metrics";
import { createSupervisor, MESH_RESTART_POLICY, type MemberExit } from "./supervisor";

const SCRIPT = {
  name: "start:all",
  usage: `usage: npm run start:all -- [--plaintext]

Starts every service of mesh.yaml as its own process, waits until each serves, seeds demo
data once, starts the REST gateway and dashboard, and prints a status table and commands to
try. Ctrl-C stops everything.

  --plaintext         no TLS and no authorization (also MESH_PLAINTEXT=1); a loud warning
  -h, --help          show this and exit`,
  options: { plaintext: { type: "boolean" } },
} as const;

const READY_TIMEOUT_MS = 30_000;
/** The shell variable the printed login line sets and the printed user calls read. */
export const TOKEN_VARIABLE = "TOKEN";
// Exited members come back with backoff and jitter for as long as the mesh runs (supervisor.ts).
const RESTART_POLICY = MESH_RESTART_POLICY;

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

/**
 * A path relative to `cwd` when it is under it, absolute otherwise; quoted if need be. `cwd`
 * is where the user typed `npm run start:all` (npm's INIT_CWD; npm itself runs scripts from
 * the project root), so that the printed commands work pasted there, with grpcurl or with
 * `npm run grpc`, which reads relative file names from INIT_CWD too.
 */
function shownPath(file: string, cwd = process.env.INIT_CWD ?? process.cwd()): string {
  const near = relative(cwd, file);
  const shown = near.startsWith("..") || isAbsolute(near) ? file : near;
  return /^[\w./-]+$/.test(shown) ? shown : `'${shown}'`;
}

/** How grpcurl reaches the mesh: `-plaintext`, or the operator's certificate, key and the CA. */
export function grpcurlFlags(topology: Topology): string {
  const { security } = topology;
  if (security.mode === "plaintext") return "-plaintext";
  const files = certificateFiles(security.pkiDir, operatorOf(security));
  return `-cacert ${shownPath(files.ca)} -cert ${shownPath(files.cert)} -key ${shownPath(files.key)}`;
}

/**
 * The commands printed for the user, one shell session's worth; the end-to-end test runs them
 * exactly as printed, in one bash. Calls that read or write a user's data carry the demo user's
 * access token from `$TOKEN`, which the login line sets: no token is ever printed, since
 * start:all's output is often redirected to a log file, and a token there is a live credential
 * (issue 16).
 */
export function exampleCommands(topology: Topology, userId: string, runTag: string): string[] {
  // grpcurl dials one address: the first instance's.
  const at = (name: string): string => topology.services[name].instances[0].listen;
  const flags = grpcurlFlags(topology);
  const command = (headers: string, name: string, method: string, body?: object): string =>
    `grpcurl ${flags} ${headers}${body ? `-d '${JSON.stringify(body)}' ` : ""}${at(name)} ${method}`;
  const call = (name: string, method: string, body?: object): string =>
    command("", name, method, body);
  const asUser = (name: string, method: string, body?: object): string =>
    command(`-H "authorization: Bearer $${TOKEN_VARIABLE}" `, name, method, body);
  const login = call("users", "shop.users.v1.AuthService/Login", {
    email: DEMO_LOGIN,
    password: DEMO_PASSWORD,
  });
  return [
    `grpcurl ${flags} ${at("orders")} list`,
    `grpcurl ${flags} ${at("orders")} describe shop.orders.v1.OrderService.PlaceOrder`,
    call("users", "shop.users.v1.UserService/CreateUser", {
      email: `you-${runTag}@example.com`,
      display_name: "You",
    }),
    call("inventory", "shop.inventory.v1.InventoryService/ListProducts"),
    `${TOKEN_VARIABLE}=$(${login} | jq -r .accessToken)`,
    asUser("orders", "shop.orders.v1.OrderService/PlaceOrder", {
      request_id: "demo-order-1",
      user_id: userId,
      items: [{ sku: "sku-espresso", quantity: 2 }],
    }),
    call("inventory", "shop.inventory.v1.InventoryService/GetProduct", { sku: "sku-espresso" }),
    asUser("orders", "shop.orders.v1.OrderService/PlaceOrder", {
      request_id: "demo-order-2",
      user_id: userId,
      items: [{ sku: "sku-kettle", quantity: 5 }],
    }),
    asUser("orders", "shop.orders.v1.OrderService/ListOrders", { user_id: userId }),
    asUser("notifications", "shop.notifications.v1.NotificationService/ListNotifications", {
      user_id: userId,
    }),
  ];
}

async function main(): Promise<void> {
  // Set before the topology is read; the services inherit it.
  if (readFlags(SCRIPT).values.plaintext) process.env.MESH_PLAINTEXT = "1";
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
  const env = memberEnv();
  let stopping = false;
  let operator: ReturnType<typeof prepareOperator>;
  try {
    operator = prepareOperator(topology);
  } catch (err) {
    console.error(`start:all failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  const { identity } = operator;
  // In plaintext mode the operator's secret for the gateway's admin listener: made here, so
  // that it can be printed, and kept across the gateway's restarts.
  const adminSecret = randomBytes(24).toString("base64url");
  const gatewayEnv: NodeJS.ProcessEnv =
    topology.security.mode === "plaintext" ? { ...env, GATEWAY_ADMIN_SECRET: adminSecret } : env;

  let ready = false;
  const supervisor = createSupervisor({
    restart: RESTART_POLICY,
    onExit: (exit) => {
      if (stopping) return;
      if (!ready) {
        // A member that cannot start is a broken set-up: say so and stop, rather than loop.
        console.error(
          `\n${exit.label} exited unexpectedly (${howItEnded(exit)}); stopping the mesh.`,
        );
        void stop(1);
        return;
      }
      reportExit(exit);
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

  let seed: SeedResult;
  const rows = [["service", "address", "health", "store", "metrics"]];
  const gateway = gatewayAddress(topology);
  const gatewayUrl = gateway.url;
  // Served before any member starts, so that the dashboard shows restarts from the first one.
  const metrics = await serveSupervisorMetrics(supervisor, supervisorPort(gatewayUrl)).then(
    (server) => server.url,
    (err: unknown) => {
      console.error(`supervisor metrics not served: ${(err as Error).message}`);
      return undefined;
    },
  );
  try {
    const members = membersOf(topology);
    // The gateway first, then the services: it dials a service on its first request for it,
    // and none comes before the mesh is up, so it need not wait for them (a second off every
    // start); and it has the most to load, so, started last, it was the last up too, alone on
    // one of the cores for the last tenth of a second or two (docs/BENCHMARKS.md, section f).
    startGateway(
      supervisor,
      root,
      metrics ? { ...gatewayEnv, MESH_SUPERVISOR_METRICS_URL: metrics } : gatewayEnv,
    );
    for (const member of members) startMember(supervisor, root, member, env);
    const serving = members.map((m) => memberServing(supervisor, m, READY_TIMEOUT_MS, identity));
    // The seed waits only for the services it calls: on a first start, creating the demo users
    // (a password hash each, in users) then runs while the other members are still loading,
    // instead of after them on an otherwise idle core.
    const seeding = async (): Promise<SeedResult> => {
      await Promise.all(serving.filter((_, i) => SEEDED_SERVICES.includes(members[i].service)));
      return seedDemoData(topology, identity);
    };
    [seed] = await Promise.all([
      seeding(),
      gatewayServing(supervisor, gatewayUrl, READY_TIMEOUT_MS),
      ...serving,
    ]);
    // Each answered SERVING to its wait just now (asking all nine again took 0.1 s of TLS
    // handshakes before the mesh was said to be up).
    for (const member of members) {
      const store = member.store.startsWith(root)
        ? relative(root, member.store)
        : describeStore(member.store);
      rows.push([member.label, member.listen, "SERVING", store, metricsUrlOf(member)]);
    }
    rows.push([
      GATEWAY_LABEL,
      gatewayUrl.replace("http://", ""),
      "HTTP ok",
      "-",
      `${gatewayUrl}/metrics`,
    ]);
  } catch (err) {
    console.error(`\nstart:all failed: ${err instanceof Error ? err.message : String(err)}`);
    return stop(1);
  }
  ready = true;
  const userId = seed.userIds.get("ada@example.com") ?? "";

  console.log(`
The mesh is up. ${seed.created > 0 ? `Seeded ${seed.created} demo users and products.` : "Demo data was already there."}

${table(rows)}

${trust(topology, operator.written.length)}

REST API: ${gatewayUrl}/api/products   OpenAPI: ${gatewayUrl}/openapi.json
${dashboardLine(topology, gateway.adminUrl, adminSecret)}
${browserPortWarnings(gateway)
  .map((warning) => `Warning: ${warning}\n`)
  .join("")}
${metrics ? `Supervisor (restarts, crash loops): ${metrics}\n` : ""}
Try it with grpcurl, or without it: \`npm run -s grpc --\` in place of \`grpcurl\` takes the same
arguments (no proto files needed: every server has reflection):

${exampleCommands(topology, userId, randomBytes(3).toString("hex"))
  .map((c) => `  ${c}`)
  .join("\n")}

Orders, payments and notifications answer only their own user's data: the commands that read
or write it carry ${DEMO_LOGIN}'s access token (password "${DEMO_PASSWORD}"), which the
${TOKEN_VARIABLE}=$(… Login | jq -r .accessToken) line puts in $${TOKEN_VARIABLE} (tokens last 1 hour; no jq?
run that Login alone and copy its accessToken). Another user's order id answers NOT_FOUND.
The second order asks for more kettles than are in stock and is rejected (FAILED_PRECONDITION).
Both orders become notifications through the orders event stream (ListNotifications).
An instance that dies is restarted, with backoff, for as long as the mesh runs; kill one
(kill -9) and watch the others carry its traffic.
Each instance serves Prometheus metrics (the last column) and its recent spans at /traces.
Press Ctrl-C to stop everything.
`);
}

/**
 * Where operators find the dashboard, faults and traces (the gateway's admin listener): with
 * the secret in the URL's fragment in plaintext mode, else for the operator's certificate.
 */
function dashboardLine(topology: Topology, adminUrl: string, secret: string): string {
  if (topology.security.mode === "plaintext")
    return `Dashboard (operators): ${adminUrl}/#secret=${secret}`;
  const files = certificateFiles(topology.security.pkiDir, operatorOf(topology.security));
  return (
    `Dashboard (operators): ${adminUrl}/ with the operator's certificate, e.g.\n` +
    `  curl --cacert ${shownPath(files.ca)} --cert ${shownPath(files.cert)} --key ${shownPath(files.key)} ${adminUrl}/api/faults`
  );
}

/** "code 1", "SIGKILL", or "code 0, a clean exit". */
function howItEnded(exit: MemberExit): string {
  if (exit.clean) return "code 0, a clean exit";
  return exit.signal ?? `code ${exit.code}`;
}

/**
 * A member exited while the mesh runs: it comes back (the supervisor restarts it), and the
 * others keep serving. A crash loop is said loudly, every time, with what it means.
 */
function reportExit(exit: MemberExit): void {
  const inSeconds = `${((exit.restartInMs ?? 0) / 1000).toFixed(1)} s`;
  if (exit.clean) {
    console.log(`\n${exit.label} exited cleanly (code 0); starting it again in ${inSeconds}.`);
    return;
  }
  console.error(
    `\n${exit.label} exited unexpectedly (${howItEnded(exit)}); restarting it in ${inSeconds}.`,
  );
  if (exit.crashLoop) {
    console.error(
      [
        "",
        `!!! ${exit.label} IS CRASH-LOOPING: ${exit.recentCrashes} crashes within ${RESTART_POLICY.crashLoopWindowMs / 1000} s.`,
        `!!! It is restarted with growing delays (up to ${RESTART_POLICY.maxDelayMs / 1000} s); every other member keeps serving.`,
        `!!! Its own log lines above say why it exits; mesh_supervisor_crash_looping{member="${exit.label}"} is 1 meanwhile.`,
        "",
      ].join("\n"),
    );
  }
}

/** A line on how the mesh is secured, or how it is not. */
function trust(topology: Topology, made: number): string {
  const { security } = topology;
  if (security.mode === "plaintext") {
    return "PLAINTEXT: no TLS and NO AUTHORIZATION (see the warning above); grpcurl -plaintext.";
  }
  const certs = made > 0 ? `made ${made / 2} certificates` : "certificates were valid already";
  return (
    `mTLS (${certs} in ${shownPath(security.pkiDir)}): every call is ` +
    `authorized by its caller's SPIFFE id (mesh.yaml security.allow). grpcurl calls as ` +
    `spiffe://${security.trustDomain}/operator/${operatorOf(security).name}, which may call anything.`
  );
}

main().catch((err: unknown) => {
  console.error("start:all failed:", err instanceof Error ? err.message : err);
  process.exit(1);
});
