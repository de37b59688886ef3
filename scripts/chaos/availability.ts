/**
 * Which members are SERVING, polled through each one's gRPC health service while a chaos run
 * goes on: for the report's "longest time a service had no serving instance", and for how
 * soon a restarted instance is SERVING again.
 */
import { Metadata } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as Serving,
} from "../../gen/grpc/health/v1/health";
import type { DialOptions } from "../../mesh/identity";

/** A member to watch. */
export interface WatchedMember {
  label: string;
  service: string;
  /** `host:port` of its gRPC server. */
  address: string;
  dial: DialOptions;
}

/** A change of a member's state, as the poll saw it. */
export interface ServingChange {
  label: string;
  atMs: number;
  serving: boolean;
}

/** What the watch saw, once stopped. */
export interface Availability {
  /** Per service: the longest stretch, in ms, with none of its instances SERVING. */
  longestOutageMs: Record<string, number>;
  changes: ServingChange[];
  /** How often each member was polled: the resolution of the figures above. */
  pollMs: number;
}

const POLL_MS = 100;
// A check slower than this counts as "not serving": on a busy machine that is pessimistic.
const CHECK_TIMEOUT_MS = 1_000;
// Reconnect at once to a restarted member, so that "SERVING again" is seen within a poll or
// two; grpc-js would wait up to 120 s between attempts.
const CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 50,
  "grpc.max_reconnect_backoff_ms": 250,
};

/**
 * Polls every member's health every {@link POLL_MS} on a channel of its own (one check in
 * flight per member), and records each change. Bounded: it stops when told, and sends
 * nothing but health checks.
 */
export function watchAvailability(members: readonly WatchedMember[], began: number) {
  const changes: ServingChange[] = [];
  const serving = new Map<string, boolean>();
  const listeners = new Set<(change: ServingChange) => void>();
  const clients = new Map(
    members.map((m) => [
      m.label,
      new HealthClient(m.address, m.dial.credentials, {
        ...m.dial.channelOptions,
        ...CHANNEL_OPTIONS,
      }),
    ]),
  );
  const inFlight = new Set<string>();

  const record = (label: string, now: boolean): void => {
    if (serving.get(label) === now) return;
    serving.set(label, now);
    const change = { label, atMs: Date.now() - began, serving: now };
    changes.push(change);
    for (const listener of listeners) listener(change);
  };
  const poll = (): void => {
    for (const [label, client] of clients) {
      if (inFlight.has(label)) continue;
      inFlight.add(label);
      client.check(
        { service: "" },
        new Metadata(),
        { deadline: Date.now() + CHECK_TIMEOUT_MS },
        (err, response) => {
          inFlight.delete(label);
          record(label, !err && response.status === Serving.SERVING);
        },
      );
    }
  };
  poll();
  const timer = setInterval(poll, POLL_MS);

  return {
    /** Whether the member answered SERVING to its last check. */
    isServing: (label: string): boolean => serving.get(label) === true,
    /** Resolves at the first SERVING answer of `label` after `afterMs` (run time). */
    servingAfter(label: string, afterMs: number, timeoutMs: number): Promise<number> {
      const seen = changes.find((c) => c.label === label && c.serving && c.atMs >= afterMs);
      if (seen) return Promise.resolve(seen.atMs);
      return new Promise((resolve, reject) => {
        const listener = (change: ServingChange): void => {
          if (change.label !== label || !change.serving || change.atMs < afterMs) return;
          done();
          resolve(change.atMs);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${label} was not SERVING within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        listeners.add(listener);
      });
    },
    stop(): Availability {
      clearInterval(timer);
      for (const client of clients.values()) client.close();
      const endMs = Date.now() - began;
      return {
        longestOutageMs: longestOutages(members, changes, endMs),
        changes,
        pollMs: POLL_MS,
      };
    },
  };
}

/**
 * Per service, the longest stretch with none of its members SERVING, from the first moment
 * every member of it had been seen SERVING (start-up is not an outage) to `endMs`.
 */
export function longestOutages(
  members: readonly Pick<WatchedMember, "label" | "service">[],
  changes: readonly ServingChange[],
  endMs: number,
): Record<string, number> {
  const result: Record<string, number> = {};
  const services = new Set(members.map((m) => m.service));
  for (const service of services) {
    const labels = new Set(members.filter((m) => m.service === service).map((m) => m.label));
    const state = new Map<string, boolean>();
    let started = false;
    let downSince: number | undefined;
    let longest = 0;
    for (const change of changes) {
      if (!labels.has(change.label)) continue;
      state.set(change.label, change.serving);
      if (!started) {
        started = [...labels].every((l) => state.get(l) === true);
        continue;
      }
      const any = [...state.values()].some(Boolean);
      if (!any && downSince === undefined) downSince = change.atMs;
      if (any && downSince !== undefined) {
        longest = Math.max(longest, change.atMs - downSince);
        downSince = undefined;
      }
    }
    if (downSince !== undefined) longest = Math.max(longest, endMs - downSince);
    result[service] = longest;
  }
  return result;
}
