import type { Topology } from "../../mesh";
import { metricsUrlOf, type Member } from "../members";

/**
 * Where the members of a chaos run live and how they are reached: all on 127.0.0.1
 * ({@link loopbackPlacement}), or each on a host of its own (netns.ts).
 */
export interface Placement {
  /** What describes the placement in the report. */
  readonly description: string;
  /** Environment a member needs beyond the run's (its host, its peers' targets). */
  envOf(member: Member): NodeJS.ProcessEnv;
  /** A command that runs the member's node in its place (`ip netns exec …`), if any. */
  wrapperOf(member: Member): string[] | undefined;
  /** `host:port` of the member's gRPC server, as others reach it. */
  addressOf(member: Member): string;
  /** What a client dials for every instance of `service`. */
  targetOf(service: string): string;
  /** The member's Prometheus endpoint. */
  metricsUrlOf(member: Member): string;
  /**
   * Applies `tc netem` to `member`'s packets towards the members of `towards` (all when
   * absent), or removes it (`netem` null). Resolves to what was done, for the timeline.
   */
  netem(member: Member, netem: string | null, towards?: readonly Member[]): Promise<string>;
  /** Removes whatever the placement made. */
  close(): Promise<void>;
}

/** Every member on the topology's host (127.0.0.1): loopback never delays or drops a packet. */
export function loopbackPlacement(topology: Topology): Placement {
  return {
    description: "every member on 127.0.0.1",
    envOf: () => ({}),
    wrapperOf: () => undefined,
    addressOf: (member) => member.listen,
    targetOf: (service) => topology.services[service].target,
    metricsUrlOf,
    netem: () =>
      Promise.reject(new Error("netem needs members on hosts of their own (a network scenario)")),
    close: () => Promise.resolve(),
  };
}
