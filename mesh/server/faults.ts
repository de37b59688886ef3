import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { status, type sendUnaryData, type ServerUnaryCall, type StatusObject } from "@grpc/grpc-js";
import { ownMessageMetadata } from "../api/errors";
import type { Logger } from "../telemetry/logger";
import { parse as parseYaml } from "yaml";
import { loadTopology, parseTopology, type FaultConfig, type Topology } from "../config/topology";

/** The fault in force for one method, prepared once so that a call only draws numbers. */
export interface MethodFault {
  /** Draws a number in [0, 1) for each decision. */
  readonly random: () => number;
  /** Percentage of calls delayed (0 to 100), and by how long. */
  readonly delayPercentage: number;
  readonly delayMs: number;
  /** Percentage of calls answered with `abort` instead of reaching the handler. */
  readonly abortPercentage: number;
  readonly abort: Partial<StatusObject> | null;
}

/** What a server reads on every call of one method: its fault, or null when none applies. */
export interface FaultSlot {
  readonly current: MethodFault | null;
}

/** The faults for one service, changeable while its server runs. */
export interface FaultSource {
  /** The mesh service (a key of `services` in mesh.yaml) whose faults these are. */
  readonly service: string;
  /** The faults in force for that service, in file order. */
  readonly faults: readonly FaultConfig[];
  /** The slot of a method path (`/pkg.Service/Method`), kept current as the faults change. */
  slot(path: string): FaultSlot;
  /** Puts a topology's fault list in force; entries for other services are ignored. */
  set(faults: readonly FaultConfig[]): void;
  /** Stops watching the topology file, if this source watches one. The faults stay. */
  stop(): void;
}

/** Options for {@link createFaultSource} and {@link watchFaults}. */
export interface FaultSourceOptions {
  /** Source of numbers in [0, 1) that decide each fault; tests pass a seeded one. Defaults to Math.random. */
  random?: () => number;
}

/** Options for {@link watchFaults}. */
export interface WatchFaultsOptions extends FaultSourceOptions {
  /** How often the file is checked for changes. Defaults to 500 ms. */
  intervalMs?: number;
  /**
   * A JSON file `{ "faults": [...] }` (entries as in the topology's `faults`) whose entries are
   * put in force before the topology's, watched the same way: the gateway's fault controls
   * write it. A missing file adds nothing. Defaults to none.
   */
  overrideFile?: string;
}

/** Where the runtime fault overrides of a mesh live: `<dataDir>/faults-override.json`. */
export function faultsOverrideFile(topology: Topology): string {
  return join(topology.dataDir, "faults-override.json");
}

/**
 * `overrides` (entries as in a topology's `faults`) followed by the topology file's own faults,
 * validated as one topology so that an override is checked exactly as a file entry is.
 *
 * @throws TopologyError naming the entry's field (`faults.0.abort.code`).
 */
export function faultsWithOverrides(file: string, overrides: readonly unknown[]): FaultConfig[] {
  const raw = parseYaml(readFileSync(file, "utf8")) as { faults?: unknown[] } | null;
  const merged = { ...raw, faults: [...overrides, ...(raw?.faults ?? [])] };
  return parseTopology(merged, file, { ...process.env, MESH_TOPOLOGY: file }).faults;
}

/** The topology file's faults, after those of the override file when it exists. */
function loadFaults(file: string, overrideFile: string | undefined): FaultConfig[] {
  if (!overrideFile || versionOf(overrideFile) === "missing") {
    return loadTopology({ ...process.env, MESH_TOPOLOGY: file }).faults;
  }
  const overrides = (JSON.parse(readFileSync(overrideFile, "utf8")) as { faults?: unknown[] })
    .faults;
  return faultsWithOverrides(file, overrides ?? []);
}

const DEFAULT_WATCH_INTERVAL_MS = 500;

/**
 * The slot of a method on a server given no fault source: never a fault. Not frozen, so that
 * it has the same shape as every other slot and the per-call read stays monomorphic.
 */
export const NO_FAULT: FaultSlot = { current: null };

/** "abort UNAVAILABLE 20% on shop.payments.v1.PaymentService/Charge", for logs. */
export function describeFault(fault: FaultConfig): string {
  const parts: string[] = [];
  if (fault.delay) parts.push(`delay ${fault.delay.duration}ms ${fault.delay.percentage}%`);
  if (fault.abort) parts.push(`abort ${fault.abort.code} ${fault.abort.percentage}%`);
  return `${parts.join(" and ")} on ${fault.method ?? `every method of ${fault.service}`}`;
}

/**
 * The entry that applies to a method: one naming the method beats one naming its service
 * (or none), and the first in the file wins a tie. One fault per call, as one Istio route
 * carries one HTTPFaultInjection.
 */
export function matchingFault(
  faults: readonly FaultConfig[],
  path: string,
): FaultConfig | undefined {
  const [grpcService] = path.slice(1).split("/");
  const exact = path.slice(1);
  return (
    faults.find((f) => f.method === exact) ??
    faults.find((f) => f.method === undefined || f.method === grpcService)
  );
}

function compile(
  fault: FaultConfig | undefined,
  path: string,
  random: () => number,
): MethodFault | null {
  if (!fault) return null;
  const delayPercentage = fault.delay?.percentage ?? 0;
  const abortPercentage = fault.abort?.percentage ?? 0;
  if (delayPercentage <= 0 && abortPercentage <= 0) return null;
  // Built once per change, not per call: grpc-js copies the metadata when it sends a status.
  const abort = fault.abort
    ? {
        code: status[fault.abort.code as keyof typeof status],
        details: `fault injected: ${fault.abort.code} (${abortPercentage}% of ${path})`,
        // The mesh's own words, so callers see them (errors.ts, peerFailure).
        metadata: ownMessageMetadata(),
      }
    : null;
  return { random, delayPercentage, delayMs: fault.delay?.duration ?? 0, abortPercentage, abort };
}

/** A fault source holding `faults` (a topology's list) until {@link FaultSource.set} changes them. */
export function createFaultSource(
  service: string,
  faults: readonly FaultConfig[] = [],
  options: FaultSourceOptions = {},
): FaultSource {
  const random = options.random ?? Math.random;
  const slots = new Map<string, { current: MethodFault | null }>();
  let current: readonly FaultConfig[] = [];
  const source: FaultSource = {
    service,
    get faults() {
      return current;
    },
    slot(path) {
      let slot = slots.get(path);
      if (!slot) {
        slot = { current: compile(matchingFault(current, path), path, random) };
        slots.set(path, slot);
      }
      return slot;
    },
    set(all) {
      current = all.filter((f) => f.service === service);
      for (const [path, slot] of slots)
        slot.current = compile(matchingFault(current, path), path, random);
    },
    stop() {},
  };
  source.set(faults);
  return source;
}

/** What identifies one version of a file: replaced (renamed over), resized or rewritten. */
function versionOf(file: string): string {
  try {
    const stats = statSync(file);
    return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
  } catch {
    return "missing";
  }
}

/**
 * Faults for `service` from a topology file (and `options.overrideFile`), re-read whenever either changes so that
 * faults can be turned on, changed and off without a restart. Each change is logged; a file
 * that no longer validates is logged as an error and the faults in force stay. Reads the file
 * once now, throwing a TopologyError if it is invalid. Call `stop()` on shutdown.
 */
export function watchFaults(
  file: string,
  service: string,
  log: Logger,
  options: WatchFaultsOptions = {},
): FaultSource {
  const { overrideFile } = options;
  const load = () => loadFaults(file, overrideFile);
  const versions = () => `${versionOf(file)}|${overrideFile ? versionOf(overrideFile) : ""}`;
  // The version is taken before reading, so a write in between is seen at the next check.
  let version = versions();
  const source = createFaultSource(service, load(), options);
  const describe = () => source.faults.map(describeFault);
  if (source.faults.length > 0) log.info({ file, faults: describe() }, "faults in force");

  const check = (): void => {
    const now = versions();
    if (now === version) return;
    version = now;
    const previous = describe();
    try {
      source.set(load());
    } catch (err) {
      log.error(
        { file, err: err instanceof Error ? err.message : String(err), faults: previous },
        "topology file is invalid; the faults in force stay",
      );
      return;
    }
    const next = describe();
    if (next.join("\n") !== previous.join("\n")) {
      log.info({ file, faults: next, previous }, "faults changed");
    }
  };
  // Polling, not fs.watch: it survives editors that replace the file by renaming and behaves
  // the same everywhere. Not fs.watchFile either: its first stat runs later, in the thread
  // pool, so a write made just after start-up would become its baseline and never be seen.
  // A stat every half second costs microseconds. Unref'd: it never keeps a process alive.
  const timer = setInterval(check, options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS).unref();
  return Object.assign(source, { stop: () => clearInterval(timer) });
}

/**
 * Applies a method's fault to one call, delay first and then abort, as Envoy's fault filter
 * does: maybe waits, then maybe answers the abort status, else hands the call to `proceed`.
 * A delay never outlasts the call's deadline (the call then ends DEADLINE_EXCEEDED) and
 * ends at once if the caller cancels; either way the handler never runs.
 */
export function injectFault<Req, Res>(
  fault: MethodFault,
  call: ServerUnaryCall<Req, Res>,
  callback: sendUnaryData<Res>,
  proceed: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void,
): void {
  const delayed = fault.delayPercentage > 0 && fault.random() * 100 < fault.delayPercentage;
  const aborted = fault.abort !== null && fault.random() * 100 < fault.abortPercentage;
  if (!delayed) {
    if (aborted) callback(fault.abort);
    else proceed(call, callback);
    return;
  }

  const deadline = call.getDeadline();
  const remaining = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
  const wait = Math.min(fault.delayMs, remaining);
  const onCancelled = (): void => clearTimeout(timer);
  const timer = setTimeout(
    () => {
      call.removeListener("cancelled", onCancelled);
      if (call.cancelled) return;
      if (wait < fault.delayMs) {
        callback({
          code: status.DEADLINE_EXCEEDED,
          details: `deadline exceeded during an injected delay of ${fault.delayMs} ms`,
          metadata: ownMessageMetadata(),
        });
      } else if (aborted) callback(fault.abort);
      else proceed(call, callback);
    },
    Math.max(wait, 0),
  );
  call.once("cancelled", onCancelled);
}
