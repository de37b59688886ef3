import type { Topology } from "../../../mesh";
import type { DialOptions } from "../../../mesh/identity";
import type { SpanRecord as Span } from "../../../mesh/telemetry";
import { edgeStats, type EdgeStats, type Scrape } from "./edge-stats";
import { createHealthChecks } from "./health-checks";
import { meshMembers, type MeshMember } from "./members";
import { parsePrometheusText, type Sample } from "./prom-text";
import { supervisedMembers, type SupervisedView } from "./supervisor-view";
import { TraceStore, type Trace } from "./trace-store";

/** One member as the dashboard shows it. */
export interface MemberView {
  service: string;
  member: string;
  address: string;
  /** gRPC health: SERVING, NOT_SERVING, UNKNOWN, UNREACHABLE ("-" for the gateway itself). */
  health: string;
  /** Whether its admin /metrics answered ("no metrics" on the page when not). */
  metrics: boolean;
  /** Restarts and crash loop from the supervisor running the mesh; null without one. */
  supervisor: SupervisedView | null;
}

/** A caller's view of a peer: its circuit breaker and outlier ejections. */
export interface PeerView {
  from: string;
  to: string;
  /** closed, half-open or open; null when the caller reports no breaker. */
  breaker: string | null;
  /** Instances of `to` ejected by `from` since it started (gRFC A50). */
  ejections: number;
}

/** What GET /api/dashboard/state answers. */
export interface DashboardState {
  /** Epoch ms of the poll. */
  at: number;
  services: { name: string; members: MemberView[] }[];
  edges: EdgeStats[];
  peers: PeerView[];
  traces: Trace[];
  /**
   * The supervisor running the mesh (start:all): "ok", "unreachable" (its metrics did not
   * answer), or "none" when the gateway was not told of one.
   */
  supervisor: "ok" | "unreachable" | "none";
  /** Members the supervisor reports crash-looping, for the page's alert. */
  crashLoops: string[];
}

/** The gateway's own telemetry, read in-process rather than over HTTP. */
export interface LocalMember {
  service: string;
  member: string;
  metrics(): Promise<string>;
  spans(sinceMs: number): Span[];
}

/** Options for {@link createDashboard}. */
export interface DashboardOptions {
  topology: Topology;
  local: LocalMember;
  /** Polls closer together than this reuse the last result. Defaults to 1 s. */
  minIntervalMs?: number;
  /** Each admin request's time limit. Defaults to 800 ms. */
  fetchTimeoutMs?: number;
  /** How to dial a service for its health (the gateway's identity). */
  dial: (service: string) => DialOptions;
  /**
   * The `/metrics` URL of the supervisor running the mesh (start:all passes it as
   * MESH_SUPERVISOR_METRICS_URL): members' restarts and crash loops. Defaults to none.
   */
  supervisorMetricsUrl?: string;
}

/** Polls the mesh for the dashboard; see {@link createDashboard}. */
export interface Dashboard {
  /** The latest state, polling first when the last poll is older than the minimum interval. */
  state(): Promise<DashboardState>;
  close(): void;
}

const BREAKER_STATES = ["closed", "half-open", "open"];
// Spans are asked for again from a little before the last one seen: polls overlap, not gap.
const SPAN_OVERLAP_MS = 5_000;

async function fetchText(url: string, timeoutMs: number): Promise<string | null> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return response.ok ? await response.text() : null;
  } catch {
    return null;
  }
}

/** Breakers and ejections, per caller and peer, from every member's samples. */
function peerViews(scrapes: ReadonlyMap<string, Scrape>): PeerView[] {
  const views = new Map<string, PeerView>();
  const view = (s: Sample): PeerView => {
    const from = s.labels.service ?? "?";
    const to = s.labels.peer ?? "?";
    const key = `${from}\u0000${to}`;
    let found = views.get(key);
    if (!found) views.set(key, (found = { from, to, breaker: null, ejections: 0 }));
    return found;
  };
  for (const { samples } of scrapes.values()) {
    for (const s of samples) {
      if (s.name === "mesh_breaker_state") {
        // Several members of one caller: the worst state shows.
        const v = view(s);
        const state = BREAKER_STATES[s.value] ?? "open";
        if (v.breaker === null || BREAKER_STATES.indexOf(state) > BREAKER_STATES.indexOf(v.breaker))
          v.breaker = state;
      } else if (s.name === "mesh_outlier_ejections_total") {
        view(s).ejections += s.value;
      }
    }
  }
  return [...views.values()].sort(
    (a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to),
  );
}

/**
 * Polls every member's admin `/metrics` and `/traces` (members from the topology; a member
 * without an admin server shows as "no metrics") and gRPC health, plus the gateway's own
 * telemetry, and computes per-edge rates, error rates and p50/p99 from the change since the
 * previous poll; with a supervisor, its restarts and crash loops per member. Polls only when asked (the page asks every 2 s), never in the background.
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const { topology, local, minIntervalMs = 1_000, fetchTimeoutMs = 800 } = options;
  const members = meshMembers(topology);
  const health = createHealthChecks(options.dial);
  const traces = new TraceStore();
  const spansSince = new Map<string, number>();
  let previous = new Map<string, Scrape>();
  let last: DashboardState | undefined;
  let polling: Promise<DashboardState> | undefined;

  const spanWindow = (member: string, spans: readonly Span[]): void => {
    traces.add(spans);
    const newest = Math.max(
      spansSince.get(member) ?? 0,
      ...spans.map((s) => s.startMs + s.durationMs),
    );
    spansSince.set(member, newest);
  };
  // Whole milliseconds: the contract's `since` is an epoch-ms integer.
  const since = (member: string): number =>
    Math.max(0, Math.floor((spansSince.get(member) ?? 0) - SPAN_OVERLAP_MS));

  const pollMember = async (m: MeshMember): Promise<{ view: MemberView; scrape?: Scrape }> => {
    const [status, text, spansJson] = await Promise.all([
      health.check(m.address, m.service),
      fetchText(`${m.adminUrl}/metrics`, fetchTimeoutMs),
      fetchText(`${m.adminUrl}/traces?since=${since(m.member)}&limit=500`, fetchTimeoutMs),
    ]);
    if (spansJson) {
      try {
        spanWindow(m.member, (JSON.parse(spansJson) as { spans?: Span[] }).spans ?? []);
      } catch {
        // A member answering something else than the contract's JSON shows no traces.
      }
    }
    const view: MemberView = {
      service: m.service,
      member: m.member,
      address: m.address,
      health: status,
      metrics: text !== null,
      supervisor: null,
    };
    return {
      view,
      scrape: text === null ? undefined : { at: Date.now(), samples: parsePrometheusText(text) },
    };
  };

  const { supervisorMetricsUrl } = options;
  const pollSupervisor = async (): Promise<Map<string, SupervisedView> | null> => {
    if (supervisorMetricsUrl === undefined) return null;
    const text = await fetchText(supervisorMetricsUrl, fetchTimeoutMs);
    if (text === null) return null;
    return supervisedMembers(parsePrometheusText(text), [
      ...members.map((m) => m.member),
      local.member,
    ]);
  };

  const poll = async (): Promise<DashboardState> => {
    const at = Date.now();
    const [polled, supervised] = await Promise.all([
      Promise.all(members.map(pollMember)),
      pollSupervisor(),
    ]);
    const current = new Map<string, Scrape>();
    polled.forEach(({ scrape }, i) => scrape && current.set(members[i].member, scrape));
    current.set(local.member, {
      at: Date.now(),
      samples: parsePrometheusText(await local.metrics()),
    });
    spanWindow(local.member, local.spans(since(local.member)));

    const services = new Map<string, MemberView[]>([
      [
        local.service,
        [
          {
            service: local.service,
            member: local.member,
            address: "-",
            health: "SERVING",
            metrics: true,
            supervisor: supervised?.get(local.member) ?? null,
          },
        ],
      ],
    ]);
    for (const { view } of polled) {
      view.supervisor = supervised?.get(view.member) ?? null;
      services.set(view.service, [...(services.get(view.service) ?? []), view]);
    }
    const state: DashboardState = {
      at,
      services: [...services].map(([name, list]) => ({ name, members: list })),
      edges: edgeStats(current, previous),
      peers: peerViews(current),
      traces: traces.recent(),
      supervisor: supervisorMetricsUrl === undefined ? "none" : supervised ? "ok" : "unreachable",
      crashLoops: [...(supervised ?? [])].filter(([, v]) => v.crashLoop).map(([member]) => member),
    };
    previous = current;
    return state;
  };

  return {
    state() {
      if (last && Date.now() - last.at < minIntervalMs) return Promise.resolve(last);
      polling ??= poll()
        .then((state) => (last = state))
        .finally(() => (polling = undefined));
      return polling;
    },
    close: () => health.close(),
  };
}
