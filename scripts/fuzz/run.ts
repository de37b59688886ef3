/**
 * Runs a fuzz campaign against a mesh of processes (scratch-mesh.ts), on every port of every
 * member: every method of its gRPC port, health and reflection included (found through
 * reflection itself), as the mesh's operator over mTLS; its plaintext health listener; and its
 * admin HTTP port. Counts how each call ended, as a client reads it, and checks that no member
 * died or grew.
 */
import { readFileSync } from "node:fs";
import type { ClientHttp2Session } from "node:http2";
import { status } from "@grpc/grpc-js";
import { AuthServiceService } from "../../gen/shop/users/v1/auth";
import { UserServiceService } from "../../gen/shop/users/v1/users";
import {
  ServerReflectionRequest,
  ServerReflectionResponse,
} from "../../gen/grpc/reflection/v1/reflection";
import { createPeer } from "../../mesh";
import { loadDescriptors } from "../../mesh/config";
import { certificateFiles, operatorOf } from "../../mesh/identity";
import { membersOf, metricsUrlOf } from "../members";
import type { ScratchMesh } from "../scratch-mesh";
import { fuzzCall, type FuzzTarget } from "./cases";
import { grpcFrame, rawH2Call, rawSession, statusOf, type H2Target } from "./h2";
import { fuzzHttpRequest, rawHttpCall } from "./http";

/** Options for {@link runFuzz}. */
export interface FuzzOptions {
  /** Calls to make. */
  calls: number;
  seed: number;
  /** Calls in flight at once. Defaults to 16. */
  concurrency?: number;
  /**
   * The first calls, after which each member's memory is read again, for the report: by then
   * it has seen every kind of call, compiled its code and sized its heap for this traffic, so
   * this shows how much of the growth that is. Defaults to a fifth of the calls, 2,000 at most.
   */
  warmUp?: number;
  /** Only these case numbers (a failure's `n`), to replay them; `calls` is then ignored. */
  cases?: readonly number[];
  /** Called as calls finish, for a progress line. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * A call that ended as malformed input never may: INTERNAL, UNKNOWN, a stack trace in its
 * message, or no answer at all (on an admin port: 5xx or no answer).
 */
export interface FuzzFailure {
  n: number;
  member: string;
  path: string;
  how: string;
  code: string;
  details: string;
}

/** A member's resident memory, in bytes, and whether it is the same process throughout. */
export interface MemberHealth {
  member: string;
  /** Before the first call. */
  rssStart: number;
  /** After the warm-up calls. */
  rssBefore: number;
  /** The lowest reading in the 15 s after the last call. */
  rssAfter: number;
  samePid: boolean;
  alive: boolean;
}

/** What a campaign found. */
export interface FuzzReport {
  seed: number;
  calls: number;
  /** The first calls, before memory is read as "before". */
  warmUp: number;
  seconds: number;
  /**
   * Calls by the status a gRPC client reports (gRPC's own mappings, see h2.ts); admin calls by
   * their HTTP status ("HTTP 404"), or "HTTP reset" when the connection closed first.
   */
  byCode: Map<string, number>;
  /** Calls by how they were made (`body/framing/metadata` parts counted apart). */
  byKind: Map<string, number>;
  /** Every target (`member path`), and the calls each got. */
  perTarget: Map<string, number>;
  failures: FuzzFailure[];
  members: MemberHealth[];
}

/** The status names that malformed input must never get. */
export const NEVER = new Set<number>([status.INTERNAL, status.UNKNOWN]);
// How long after its own grpc-timeout a call may take before it counts as unanswered.
const NO_ANSWER_MS = 20_000;
// HTTP statuses from this one up are the server's fault: never for malformed input.
const HTTP_SERVER_ERROR = 500;
// A stack frame or a source file's place in an answer: internals no caller should see.
const STACK_TRACE = /\n\s+at |\.[jt]s:\d+/;
/** The admin port's target in reports: every request goes to its one HTTP server. */
export const ADMIN_PATH = "HTTP";
// After the last call, memory is read this often for this long, and the lowest reading counts:
// a member collects a burst's garbage once no call has started for 20 s, at its next check
// 0–5 s later (mesh/process/idle-gc.ts), so one reading right away overstates what it keeps;
// a leak never goes down.
const REST_MS = 30_000;
const REST_SAMPLE_MS = 250;
const MAX_WARM_UP = 2_000;
const WARM_UP_SHARE = 5;
const PAGE_BYTES = 4_096;

/** Resident memory of a process, from /proc (Linux). */
function rssOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/statm`, "utf8").split(" ");
    return Number(fields[1]) * PAGE_BYTES;
  } catch {
    return 0;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The gRPC services a member serves, as its reflection lists them. */
async function servicesOf(session: ClientHttp2Session): Promise<string[]> {
  const request = ServerReflectionRequest.encode({ host: "", listServices: "" }).finish();
  const chunks: Buffer[] = [];
  const stream = session.request({
    ":method": "POST",
    ":path": "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "content-type": "application/grpc",
    te: "trailers",
  });
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve, reject) => {
    stream.on("close", resolve);
    stream.on("error", reject);
    stream.end(grpcFrame(request));
  });
  const answer = Buffer.concat(chunks);
  if (answer.length < 5) throw new Error("reflection answered nothing");
  const response = ServerReflectionResponse.decode(answer.subarray(5, 5 + answer.readUInt32BE(1)));
  return response.listServicesResponse?.service.map((s) => s.name).sort() ?? [];
}

/** Signs a user up and logs in, for the cases that carry a valid token. */
async function demoToken(mesh: ScratchMesh, seed: number): Promise<string> {
  const { topology, identity } = mesh;
  const dial = {
    target: topology.services.users.target,
    policy: topology.policy,
    ...identity.dialOptions("users"),
  };
  const users = createPeer(UserServiceService, dial);
  const auth = createPeer(AuthServiceService, dial);
  try {
    const email = `fuzz-${seed}@example.com`;
    const password = "fuzz-password";
    // A second campaign with this seed on the same mesh finds its user there.
    await users.createUser({ email, displayName: "Fuzz", password }).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== status.ALREADY_EXISTS) throw err;
    });
    return (await auth.login({ email, password })).accessToken;
  } finally {
    users.close();
    auth.close();
  }
}

/** A member's admin HTTP port: what admin cases are sent to. */
interface AdminTarget {
  member: string;
  /** `host:port`. */
  address: string;
}

/** What a case is sent to: a gRPC method on a port, or an admin port. */
type Target = { grpc: FuzzTarget } | { admin: AdminTarget };
const keyOf = (target: Target): string =>
  "grpc" in target
    ? `${target.grpc.member} ${target.grpc.path}`
    : `${target.admin.member} ${ADMIN_PATH}`;

/**
 * Every target of `mesh`, in a fixed order (the same targets every run): for each member, every
 * method of every service its reflection lists, then health on its plaintext listener (when it
 * has one), then its admin port.
 */
async function targetsOf(mesh: ScratchMesh): Promise<Target[]> {
  const { topology } = mesh;
  const security = topology.security;
  const files = certificateFiles(security.pkiDir, operatorOf(security));
  const descriptors = loadDescriptors();
  const targets: Target[] = [];
  for (const member of membersOf(topology)) {
    const h2: H2Target =
      security.mode === "plaintext"
        ? { address: member.listen }
        : { address: member.listen, tls: files };
    const session = await rawSession(h2);
    try {
      for (const service of await servicesOf(session)) {
        for (const method of descriptors.methods(service)) {
          const path = `/${service}/${method.name}`;
          targets.push({ grpc: { member: member.label, h2, path, method } });
        }
      }
    } finally {
      session.close();
    }
    const health = mesh.healthListeners.get(member.label);
    if (health) {
      for (const method of descriptors.methods(HEALTH_SERVICE)) {
        targets.push({
          grpc: {
            member: `${member.label}/health-port`,
            h2: { address: health },
            path: `/${HEALTH_SERVICE}/${method.name}`,
            method,
          },
        });
      }
    }
    const admin = new URL(metricsUrlOf(member)).host;
    targets.push({ admin: { member: `${member.label}/admin-port`, address: admin } });
  }
  return targets;
}
const HEALTH_SERVICE = "grpc.health.v1.Health";

/** Runs `options.calls` generated calls against `mesh`; see the module comment. */
export async function runFuzz(mesh: ScratchMesh, options: FuzzOptions): Promise<FuzzReport> {
  const targets = await targetsOf(mesh);
  const token = await demoToken(mesh, options.seed);

  const pids = mesh.pids();
  const rssNow = (): Map<string, number> =>
    new Map([...pids].map(([label, pid]) => [label, rssOf(pid)]));
  const rssStart = rssNow();
  const byCode = new Map<string, number>();
  const byKind = new Map<string, number>();
  const perTarget = new Map(targets.map((t) => [keyOf(t), 0]));
  const failures: FuzzFailure[] = [];
  const count = (map: Map<string, number>, key: string): void =>
    void map.set(key, (map.get(key) ?? 0) + 1);

  /** Case `n` on a gRPC port, over the worker's session to that address. */
  const grpcCase = async (
    sessions: Map<string, ClientHttp2Session>,
    n: number,
    target: FuzzTarget,
  ): Promise<void> => {
    const call = fuzzCall(options.seed, n, target, token);
    const { address } = target.h2;
    let session = sessions.get(address);
    if (!session || session.closed || session.destroyed) {
      session = await rawSession(target.h2);
      sessions.set(address, session);
    }
    const outcome = await rawH2Call(session, target.path, call.payload, call.headers, NO_ANSWER_MS);
    const code = statusOf(outcome);
    count(byCode, status[code]);
    count(byKind, `body ${call.body}`);
    count(byKind, `framing ${call.framing}`);
    count(byKind, `metadata ${call.metadata}`);
    const leaks = STACK_TRACE.test(outcome.details);
    if (NEVER.has(code) || outcome.timedOut || leaks) {
      failures.push({
        n,
        member: target.member,
        path: target.path,
        how: `${call.body}/${call.framing}/${call.metadata}`,
        code: outcome.timedOut
          ? "NO ANSWER"
          : leaks
            ? `${status[code]} WITH A STACK`
            : status[code],
        details:
          outcome.details ||
          outcome.error ||
          (outcome.rstCode ? `RST_STREAM ${outcome.rstCode}` : ""),
      });
    }
  };

  /** Case `n` on an admin port: one request on a connection of its own. */
  const adminCase = async (n: number, target: AdminTarget): Promise<void> => {
    const { kind, request } = fuzzHttpRequest(options.seed, n, target.address);
    const outcome = await rawHttpCall(target.address, request, NO_ANSWER_MS);
    count(byCode, outcome.status === undefined ? "HTTP reset" : `HTTP ${outcome.status}`);
    count(byKind, `admin ${kind}`);
    if (outcome.timedOut || (outcome.status ?? 0) >= HTTP_SERVER_ERROR) {
      failures.push({
        n,
        member: target.member,
        path: ADMIN_PATH,
        how: `admin ${kind}`,
        code: outcome.timedOut ? "NO ANSWER" : `HTTP ${outcome.status}`,
        details: request.subarray(0, 120).toString("latin1").split("\r\n")[0],
      });
    }
  };

  let next = 0;
  let done = 0;
  /** Cases up to `end` (not included), `concurrency` at a time. */
  const runUntil = (end: number): Promise<unknown> =>
    Promise.all(
      Array.from({ length: options.concurrency ?? 16 }, async () => {
        const sessions = new Map<string, ClientHttp2Session>();
        try {
          while (next < end) {
            const i = next++;
            const n = options.cases ? options.cases[i] : i;
            const target = targets[n % targets.length];
            if ("grpc" in target) await grpcCase(sessions, n, target.grpc);
            else await adminCase(n, target.admin);
            count(perTarget, keyOf(target));
            options.onProgress?.(++done, calls);
          }
        } finally {
          for (const session of sessions.values()) session.close();
        }
      }),
    );
  const started = Date.now();
  const calls = options.cases?.length ?? options.calls;
  const warmUp = Math.min(
    options.warmUp ?? Math.min(Math.floor(calls / WARM_UP_SHARE), MAX_WARM_UP),
    calls,
  );
  await runUntil(warmUp);
  const rssBefore = rssNow();
  await runUntil(calls);
  const seconds = (Date.now() - started) / 1_000;
  const rssAfter = rssNow();
  for (let rested = 0; rested < REST_MS; rested += REST_SAMPLE_MS) {
    await new Promise((resolve) => setTimeout(resolve, REST_SAMPLE_MS));
    for (const [member, rss] of rssNow()) {
      if (rss > 0) rssAfter.set(member, Math.min(rss, rssAfter.get(member) ?? rss));
    }
  }

  const now = mesh.pids();
  const members = [...pids].map(([member, pid]) => ({
    member,
    rssStart: rssStart.get(member) ?? 0,
    rssBefore: rssBefore.get(member) ?? 0,
    rssAfter: rssAfter.get(member) ?? 0,
    samePid: now.get(member) === pid,
    alive: alive(pid),
  }));
  return {
    seed: options.seed,
    calls,
    warmUp,
    seconds,
    byCode,
    byKind,
    perTarget,
    failures,
    members,
  };
}
