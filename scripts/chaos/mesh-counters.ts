/**
 * Retries, hedges and ejections as the members' own metrics count them, for the chaos report.
 * A killed process loses its counters, so each member is scraped every second and the last
 * value seen of each process incarnation (told apart by `process_start_time_seconds`) is
 * kept; the totals add up every incarnation's last values.
 */
import type { Registry } from "prom-client";

/** What the members counted over a run. */
export interface MeshCounters {
  /** Attempts after the first of a retried call, as the servers that got them counted. */
  retries: number;
  /** Extra copies of hedged calls that reached a server. */
  hedges: number;
  /** Instances ejected by outlier detection, summed over every caller. */
  ejections: number;
  /** Process incarnations whose counters are included. */
  incarnations: number;
}

/** Metric name → field of {@link MeshCounters}. */
const COUNTED = {
  mesh_client_retries_total: "retries",
  mesh_client_hedges_total: "hedges",
  mesh_outlier_ejections_total: "ejections",
} as const;
type Counted = (typeof COUNTED)[keyof typeof COUNTED];
type Totals = Record<Counted, number>;
const SCRAPE_INTERVAL_MS = 1_000;
const SCRAPE_TIMEOUT_MS = 800;

/** Sums each counted metric over its series, and reads the process's start time. */
export function parseCounters(text: string): { startTime: string; totals: Totals } {
  const totals: Totals = { retries: 0, hedges: 0, ejections: 0 };
  let startTime = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const name = line.slice(0, line.search(/[{ ]/));
    const value = line.slice(line.lastIndexOf(" ") + 1);
    if (name === "process_start_time_seconds") startTime = value;
    const field = COUNTED[name as keyof typeof COUNTED];
    if (field) totals[field] += Number(value) || 0;
  }
  return { startTime, totals };
}

/** Scrapes members' `/metrics` while a run goes on; see the module comment. */
export function scrapeMeshCounters(
  urls: readonly string[],
  /** A registry in this process too (the load's own client), read at the end. */
  local?: Registry,
): { stop(): Promise<MeshCounters> } {
  const last = new Map<string, Totals>();
  const scrape = async (url: string): Promise<void> => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
      const { startTime, totals } = parseCounters(await res.text());
      last.set(`${url} ${startTime}`, totals);
    } catch {
      // A member being killed or restarted: its last good scrape stands.
    }
  };
  const scrapeAll = (): Promise<unknown> => Promise.all(urls.map(scrape));
  let running = scrapeAll();
  const timer = setInterval(() => {
    running = running.then(scrapeAll);
  }, SCRAPE_INTERVAL_MS);
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await scrapeAll();
      if (local) last.set("local", parseCounters(await local.metrics()).totals);
      const sum = (field: Counted): number =>
        [...last.values()].reduce((total, totals) => total + totals[field], 0);
      return {
        retries: sum("retries"),
        hedges: sum("hedges"),
        ejections: sum("ejections"),
        incarnations: last.size,
      };
    },
  };
}

/**
 * Calls of the shop's API a member has handled (`grpc_server_handled_total` of `shop.*`
 * services, every method and code; not health checks), read from its `/metrics`; 0 when it
 * cannot be read.
 */
export async function handledCalls(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS * 2) });
    let total = 0;
    for (const line of (await res.text()).split("\n")) {
      if (!line.startsWith("grpc_server_handled_total{")) continue;
      if (!line.includes('grpc_service="shop.')) continue;
      total += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
    }
    return total;
  } catch {
    return 0;
  }
}
