import {
  connectivityState as ConnectivityState,
  experimental,
  status,
  type ChannelOptions,
} from "@grpc/grpc-js";
import type { OutlierDetectionConfig } from "../config/policy-schema";
import { isInstanceFailure } from "./failure-codes";

/**
 * The mesh's load balancer, a grpc-js LB policy of its own: round robin over the instances of
 * a peer, with outlier ejection that counts only the statuses that say an instance failed
 * (failure-codes.ts), and a panic rule. grpc-js's `outlier_detection` (gRFC A50) cannot be
 * told which statuses count: it counts every non-OK status, so refusals ejected healthy
 * instances (issue 14). This policy is registered through grpc-js's public `experimental` API
 * and keeps gRFC A50's terms (interval, failure percentage, ejection time growing with each
 * ejection in a row, max ejection percent), plus Envoy's consecutive failures.
 *
 * Panic (Envoy's panic threshold, at "no healthy instance"): when every reachable instance is
 * ejected, calls are balanced over all of them rather than failed, so ejection never takes a
 * service away. Retries and hedges pick again through this balancer, so a retried call moves
 * to another instance.
 */

/** The name the policy is registered under, in a service config's `loadBalancingConfig`. */
export const MESH_BALANCER = "mesh_round_robin";

/** What a balancer tells its peer: ejections and re-admissions, for metrics and logs. */
export interface BalancerObserver {
  ejected(event: EjectionEvent): void;
  readmitted(address: string, why: "time served" | "reconnected"): void;
  /** Every reachable instance is ejected: calls go to all of them (true), or no longer (false). */
  panic(on: boolean): void;
}

/** Why an instance was ejected, and for how long. */
export interface EjectionEvent {
  address: string;
  durationMs: number;
  /** "5 failures in a row" or "8 of 10 calls failed". */
  reason: string;
}

// grpc-js's parser prefixes these messages with the policy's name.
/** The policy's config as it travels in the service config (JSON, milliseconds). */
interface RawConfig {
  observer?: string;
  interval_ms: number;
  base_ejection_ms: number;
  max_ejection_ms: number;
  max_ejection_percent: number;
  failure_percentage?: {
    threshold: number;
    enforcement_percentage: number;
    minimum_hosts: number;
    request_volume: number;
  };
  consecutive_failures?: number;
}

const positive = (value: unknown, field: string): number => {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${field} must be a positive number, got ${String(value)}`);
  }
  return value;
};
const percent = (value: unknown, field: string): number => {
  if (typeof value !== "number" || value < 0 || value > 100) {
    throw new Error(`${field} must be a percentage (0-100), got ${String(value)}`);
  }
  return value;
};

class MeshBalancerConfig implements experimental.TypedLoadBalancingConfig {
  constructor(readonly raw: RawConfig) {}
  getLoadBalancerName(): string {
    return MESH_BALANCER;
  }
  toJsonObject(): object {
    return { [MESH_BALANCER]: this.raw };
  }
  /** Checks every field, so that grpc-js never falls back to pick_first over a typo. */
  static createFromJson(obj: unknown): MeshBalancerConfig {
    const raw = obj as RawConfig;
    // A timer under a millisecond would be a busy loop (Node rounds it up to 1 ms anyway).
    if (positive(raw.interval_ms, "interval_ms") < 1) {
      throw new Error(`interval_ms must be at least 1, got ${raw.interval_ms}`);
    }
    positive(raw.base_ejection_ms, "base_ejection_ms");
    positive(raw.max_ejection_ms, "max_ejection_ms");
    percent(raw.max_ejection_percent, "max_ejection_percent");
    if (raw.failure_percentage) {
      percent(raw.failure_percentage.threshold, "failure_percentage.threshold");
      percent(raw.failure_percentage.enforcement_percentage, "failure_percentage.enforcement");
      positive(raw.failure_percentage.minimum_hosts, "failure_percentage.minimum_hosts");
      positive(raw.failure_percentage.request_volume, "failure_percentage.request_volume");
    }
    if (raw.consecutive_failures !== undefined) {
      positive(raw.consecutive_failures, "consecutive_failures");
    }
    return new MeshBalancerConfig(raw);
  }
}

/** One instance: its pick_first leaf (grpc-js's own, as round_robin uses) and its record. */
class Instance {
  /** Outcomes in the current interval. */
  calls = 0;
  failures = 0;
  /** Failures in a row, across intervals. */
  consecutive = 0;
  /** Epoch ms until which it is ejected; 0 when it is not. */
  ejectedUntil = 0;
  /** Ejections in a row (gRFC A50's multiplier): each lasts this × the base ejection time. */
  multiplier = 0;
  /** Whether its connection was READY when last seen, to notice a reconnection. */
  wasReady = false;
  /** Epoch ms of its last failed call; 0 if none. */
  lastFailureAt = 0;
  readonly onCallEnded: (code: status) => void;

  constructor(
    readonly address: string,
    readonly leaf: experimental.LeafLoadBalancer,
    record: (instance: Instance, code: status) => void,
  ) {
    this.onCallEnded = (code) => record(this, code);
  }

  get ejected(): boolean {
    return this.ejectedUntil !== 0;
  }
  ready(): boolean {
    return this.leaf.getConnectivityState() === ConnectivityState.READY;
  }
}

/**
 * How long an instance whose call just failed is passed over, while another instance of the
 * pool has no failure that recent. Not an ejection (nothing is counted or logged): it keeps
 * the next calls, and a step tried again after a failure, off an instance that may be cut off,
 * during the seconds it takes its calls to time out and eject it. After it, the instance is
 * picked again in turn, so it keeps being tried and is ejected, or forgiven by a success.
 */
export const RECENT_FAILURE_MS = 1_000;

/** The shared state of a balancer's pickers: the rotation, and when any call last failed. */
interface PickerState {
  next: number;
  lastFailureAt: number;
}

/**
 * Round robin over `pool` (a cursor shared with the balancer's later pickers, so that the
 * rotation goes on when the picker is replaced), passing over an instance that failed in the
 * last {@link RECENT_FAILURE_MS} when another has not; each call's status goes to its instance.
 */
class MeshPicker implements experimental.Picker {
  constructor(
    private readonly pool: readonly Instance[],
    private readonly state: PickerState,
  ) {}

  private choose(): Instance {
    const { pool, state } = this;
    const first = state.next++ % pool.length;
    if (state.next >= Number.MAX_SAFE_INTEGER) state.next = 0;
    // The usual case, with no clock read: nothing failed lately.
    if (pool.length === 1 || state.lastFailureAt === 0) return pool[first];
    const now = Date.now();
    if (now - state.lastFailureAt >= RECENT_FAILURE_MS) return pool[first];
    for (let i = 0; i < pool.length; i++) {
      const candidate = pool[(first + i) % pool.length];
      if (now - candidate.lastFailureAt >= RECENT_FAILURE_MS) return candidate;
    }
    return pool[first];
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const instance = this.choose();
    const result = instance.leaf.getPicker().pick(args);
    if (result.pickResultType !== experimental.PickResultType.COMPLETE) return result;
    const inner = result.onCallEnded;
    const onCallEnded = inner
      ? (code: status, details: string, metadata: Parameters<typeof inner>[2]) => {
          instance.onCallEnded(code);
          inner(code, details, metadata);
        }
      : instance.onCallEnded;
    return { ...result, onCallEnded };
  }
}

/** Observers by the id their channel's config names; see {@link meshBalancing}. */
const observers = new Map<string, BalancerObserver>();
let nextObserverId = 0;

class MeshBalancer implements experimental.LoadBalancer {
  private instances: Instance[] = [];
  private config: RawConfig | undefined;
  private state: ConnectivityState = ConnectivityState.IDLE;
  private readonly helper: experimental.ChannelControlHelper;
  private readonly pickerState: PickerState = { next: 0, lastFailureAt: 0 };
  private timer: NodeJS.Timeout | undefined;
  private lastError: string | null = null;
  private updatesPaused = false;
  private panicking = false;

  constructor(private readonly parent: experimental.ChannelControlHelper) {
    this.helper = experimental.createChildChannelControlHelper(parent, {
      updateState: (_state, _picker, errorMessage) => {
        if (errorMessage) this.lastError = errorMessage;
        this.update();
      },
    });
  }

  private get observer(): BalancerObserver | undefined {
    return this.config?.observer === undefined ? undefined : observers.get(this.config.observer);
  }

  updateAddressList(
    endpoints: experimental.StatusOr<experimental.Endpoint[]>,
    config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(config instanceof MeshBalancerConfig)) return false;
    this.config = config.raw;
    if (!endpoints.ok) {
      if (this.instances.length === 0) {
        this.publish(
          ConnectivityState.TRANSIENT_FAILURE,
          new experimental.UnavailablePicker(endpoints.error),
          endpoints.error.details,
        );
      }
      return true;
    }
    // Instances that stay keep their connection and their record; new ones connect now.
    const kept = new Map(this.instances.map((i) => [i.address, i]));
    const next: Instance[] = [];
    this.updatesPaused = true;
    for (const endpoint of endpoints.value) {
      const address = experimental.subchannelAddressToString(endpoint.addresses[0]);
      const existing = kept.get(address);
      if (existing) {
        kept.delete(address);
        existing.leaf.updateEndpoint(endpoint, options);
        next.push(existing);
        continue;
      }
      const leaf = new experimental.LeafLoadBalancer(
        endpoint,
        this.helper,
        options,
        resolutionNote,
      );
      const instance = new Instance(address, leaf, (i, code) => this.record(i, code));
      next.push(instance);
      leaf.startConnecting();
    }
    for (const gone of kept.values()) gone.leaf.destroy();
    this.instances = next;
    this.updatesPaused = false;
    if (next.length === 0) {
      const details = `${MESH_BALANCER}: no addresses resolved (${resolutionNote})`;
      this.publish(
        ConnectivityState.TRANSIENT_FAILURE,
        new experimental.UnavailablePicker({ details }),
        details,
      );
    } else {
      this.update();
    }
    this.schedule();
    return true;
  }

  /** A call on `instance` ended with `code`. */
  private record(instance: Instance, code: status): void {
    const config = this.config;
    // CANCELLED is the caller giving up (a hedge that lost): it says nothing of the instance.
    if (!config || code === status.CANCELLED) return;
    instance.calls++;
    if (!isInstanceFailure(code)) {
      instance.consecutive = 0;
      return;
    }
    instance.failures++;
    instance.consecutive++;
    instance.lastFailureAt = this.pickerState.lastFailureAt = Date.now();
    const limit = config.consecutive_failures;
    if (limit !== undefined && instance.consecutive >= limit && !instance.ejected) {
      // At once, not at the next interval, as Envoy's consecutive_5xx does.
      this.eject(instance, `${instance.consecutive} failures in a row`, Date.now());
    }
  }

  /** Ejects `instance` unless max_ejection_percent of the instances are ejected already. */
  private eject(instance: Instance, reason: string, now: number): boolean {
    const config = this.config as RawConfig;
    const ejected = this.instances.filter((i) => i.ejected).length;
    if (ejected * 100 >= config.max_ejection_percent * this.instances.length) return false;
    instance.multiplier++;
    const durationMs = Math.min(
      config.base_ejection_ms * instance.multiplier,
      Math.max(config.base_ejection_ms, config.max_ejection_ms),
    );
    instance.ejectedUntil = now + durationMs;
    instance.consecutive = 0;
    this.observer?.ejected({ address: instance.address, durationMs, reason });
    this.update();
    return true;
  }

  private readmit(instance: Instance, why: "time served" | "reconnected"): void {
    instance.ejectedUntil = 0;
    instance.calls = 0;
    instance.failures = 0;
    instance.consecutive = 0;
    this.observer?.readmitted(instance.address, why);
  }

  /** Every interval: re-admit whoever served their time, then eject by failure percentage. */
  private sweep(): void {
    const config = this.config;
    if (!config) return;
    const now = Date.now();
    let changed = false;
    for (const instance of this.instances) {
      if (instance.ejected && instance.ejectedUntil <= now) {
        this.readmit(instance, "time served");
        changed = true;
      } else if (!instance.ejected && instance.multiplier > 0 && instance.failures === 0) {
        // gRFC A50: an instance that stays in, and does well, earns its multiplier back.
        instance.multiplier--;
      }
    }
    const fp = config.failure_percentage;
    if (fp && this.instances.length >= fp.minimum_hosts) {
      for (const instance of this.instances) {
        if (instance.ejected || instance.calls < fp.request_volume) continue;
        if (instance.failures * 100 < fp.threshold * instance.calls) continue;
        if (Math.random() * 100 >= fp.enforcement_percentage) continue;
        const reason = `${instance.failures} of ${instance.calls} calls failed`;
        changed = this.eject(instance, reason, now) || changed;
      }
    }
    for (const instance of this.instances) {
      instance.calls = 0;
      instance.failures = 0;
    }
    if (changed) this.update();
  }

  private schedule(): void {
    if (this.timer || !this.config) return;
    this.timer = setInterval(() => this.sweep(), this.config.interval_ms);
    // Ejection bookkeeping alone never keeps a process alive.
    this.timer.unref();
  }

  /** Works out the channel's state and picker from the instances' states. */
  private update(): void {
    if (this.updatesPaused) return;
    const ready: Instance[] = [];
    let connecting = false;
    let failing = false;
    for (const instance of this.instances) {
      const state = instance.leaf.getConnectivityState();
      const isReady = state === ConnectivityState.READY;
      // A new connection is a new chance: an instance that restarted is not kept out for the
      // failures of the process that died (those calls failed because it was gone).
      if (isReady && !instance.wasReady && instance.ejected) this.readmit(instance, "reconnected");
      instance.wasReady = isReady;
      if (isReady) ready.push(instance);
      else if (state === ConnectivityState.CONNECTING) connecting = true;
      else if (state === ConnectivityState.TRANSIENT_FAILURE) failing = true;
      // As round_robin does: every instance is kept connected.
      if (state === ConnectivityState.IDLE) instance.leaf.exitIdle();
    }
    if (ready.length > 0) {
      const healthy = ready.filter((i) => !i.ejected);
      const panic = healthy.length === 0;
      if (panic !== this.panicking) {
        this.panicking = panic;
        this.observer?.panic(panic);
      }
      const pool = panic ? ready : healthy;
      this.publish(ConnectivityState.READY, new MeshPicker(pool, this.pickerState), null);
    } else if (connecting) {
      this.publish(ConnectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else if (failing) {
      const details = `${MESH_BALANCER}: no instance reachable. Last error: ${this.lastError}`;
      this.publish(
        ConnectivityState.TRANSIENT_FAILURE,
        new experimental.UnavailablePicker({ details }),
        details,
      );
    } else {
      this.publish(ConnectivityState.IDLE, new experimental.QueuePicker(this), null);
    }
  }

  private publish(state: ConnectivityState, picker: experimental.Picker, error: string | null) {
    // As round_robin does: losing the last ready instance asks the resolver to look again.
    if (this.state === ConnectivityState.READY && state !== ConnectivityState.READY) {
      this.parent.requestReresolution();
    }
    this.state = state;
    this.parent.updateState(state, picker, error);
  }

  exitIdle(): void {
    for (const instance of this.instances) instance.leaf.exitIdle();
  }
  resetBackoff(): void {}
  destroy(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const instance of this.instances) instance.leaf.destroy();
    this.instances = [];
  }
  getTypeName(): string {
    return MESH_BALANCER;
  }
}

let registered = false;

/** Registers the policy with grpc-js (once per process); a channel config naming it needs this. */
export function registerMeshBalancer(): void {
  if (registered) return;
  experimental.registerLoadBalancerType(MESH_BALANCER, MeshBalancer, MeshBalancerConfig);
  registered = true;
}

/** A channel's entry in `loadBalancingConfig`, and how to let go of its observer. */
export interface MeshBalancing {
  config: object;
  /** Forgets the observer; call when the channel closes. */
  dispose(): void;
}

/**
 * The load-balancing config for a channel to one service: the mesh balancer with the
 * policy's ejection rules (registered with grpc-js first), telling `observer` of ejections.
 */
export function meshBalancing(
  rules: OutlierDetectionConfig,
  observer?: BalancerObserver,
): MeshBalancing {
  registerMeshBalancer();
  const fp = rules.failurePercentage;
  const raw: RawConfig = {
    interval_ms: rules.interval,
    base_ejection_ms: rules.baseEjectionTime,
    max_ejection_ms: rules.maxEjectionTime,
    max_ejection_percent: rules.maxEjectionPercent,
    failure_percentage: {
      threshold: fp.threshold,
      enforcement_percentage: fp.enforcementPercentage,
      minimum_hosts: fp.minimumHosts,
      request_volume: fp.requestVolume,
    },
    ...(rules.consecutiveFailures === undefined
      ? {}
      : { consecutive_failures: rules.consecutiveFailures }),
  };
  // grpc-js does not refuse a config its parser throws on: it logs it at DEBUG and balances
  // with pick_first (one instance, no ejection). So it is parsed here, where it can fail loudly.
  try {
    experimental.parseLoadBalancingConfig({ [MESH_BALANCER]: raw });
  } catch (err) {
    throw new Error(`policy.outlierDetection: ${(err as Error).message}`);
  }
  if (!observer) return { config: { [MESH_BALANCER]: raw }, dispose: () => undefined };
  const id = `observer-${nextObserverId++}`;
  observers.set(id, observer);
  return {
    config: { [MESH_BALANCER]: { ...raw, observer: id } },
    dispose: () => void observers.delete(id),
  };
}
