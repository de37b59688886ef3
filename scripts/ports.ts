import { createServer } from "node:net";
// Only the port arithmetic: the ports helper stays free of the mesh's heavier modules.
import { adminPortOf } from "../mesh/telemetry";
import { BROWSERS_REFUSE } from "../services/gateway/browser-ports";

/**
 * Ports are chosen below Linux's ephemeral range (32768–60999), like the members' admin
 * ports (see adminPortOf): a port from that range, free when checked here, can be taken as
 * the local port of any outgoing connection (the mesh's own, starting up beside it) before
 * the process it is meant for binds it. CI saw start:all's gateway exit before answering;
 * with ports from `listen(0)` that is one way it happens.
 */
const LOWEST = 10_000;
const HIGHEST = 30_000;
/**
 * Each jest worker picks from its own slice, so that two test files running at once never
 * choose the same port before either binds it; a slice leaves room for a port's second
 * instance and admin ports (p + 100, p + 1000, p + 1100), so those stay in it too.
 */
const SLICE = 5_000;
const SLICE_ROOM = 1_200;
/**
 * Ports this process handed out already, none handed out twice: a test asks in several
 * calls (the members', then the gateway's) before anything binds, and one worker runs test
 * after test. Forgotten only when half the range is used.
 */
const handedOut = new Set<number>();

function range(): { from: number; to: number } {
  const worker = Number(process.env.JEST_WORKER_ID);
  if (!Number.isInteger(worker) || worker < 1) return { from: LOWEST, to: HIGHEST - SLICE_ROOM };
  const slices = (HIGHEST - LOWEST) / SLICE;
  const from = LOWEST + ((worker - 1) % slices) * SLICE;
  return { from, to: from + SLICE - SLICE_ROOM };
}

const canBind = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/** Whether every port of `ports` can be bound now. */
async function allFree(ports: number[]): Promise<boolean> {
  for (const port of ports) if (!(await canBind(port))) return false;
  return true;
}

/**
 * `count` ports on 127.0.0.1 free now, below the ephemeral range, with their neighbours
 * `related(p)` free too, none of them handed out before by this process, and none that fetch
 * refuses.
 */
async function pick(count: number, related: (port: number) => number[]): Promise<number[]> {
  const { from, to } = range();
  if (handedOut.size > (to - from) / 2) handedOut.clear();
  const chosen: number[] = [];
  for (let tries = 0; chosen.length < count; tries++) {
    if (tries > 10_000) throw new Error(`no ${count} free ports in ${from}–${to}`);
    const port = from + Math.floor(Math.random() * (to - from));
    const all = [port, ...related(port)];
    // Never a port fetch refuses (10080 is the only one in range): CI saw a start:all test fail
    // with "bad port" when its gateway was handed 10080.
    if (all.some((p) => handedOut.has(p) || BROWSERS_REFUSE.has(p)) || !(await allFree(all))) {
      continue;
    }
    chosen.push(port);
    for (const p of all) handedOut.add(p);
  }
  return chosen;
}

/** `count` different ports on 127.0.0.1, free now (see above for where they come from). */
export function freePorts(count: number): Promise<number[]> {
  return pick(count, () => []);
}

/**
 * GATEWAY_PORT, GATEWAY_ADMIN_PORT and SUPERVISOR_PORT for a start:all on free ports, all
 * three chosen: left unset, the admin port would be adminPortOf(port) and the supervisor's
 * metrics port + 1, neither checked (CI saw the supervisor take a member's admin port).
 */
export async function freeGatewayEnv(): Promise<Record<string, string>> {
  const [port, admin, supervisor] = await freePorts(3);
  return {
    GATEWAY_PORT: String(port),
    GATEWAY_ADMIN_PORT: String(admin),
    SUPERVISOR_PORT: String(supervisor),
  };
}

/**
 * Free ports p on 127.0.0.1 such that p + step (the port of a second instance) is free too,
 * and so are both members' admin ports (adminPortOf, see mesh/telemetry).
 */
export function freeInstancePorts(count: number, step: number): Promise<number[]> {
  return pick(count, (port) => [port + step, adminPortOf(port), adminPortOf(port + step)]);
}
