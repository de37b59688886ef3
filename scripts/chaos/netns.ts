/**
 * Members on hosts of their own, for the network chaos scenarios: each member in a network
 * namespace with one veth link to a bridge in a hub namespace, and the run itself (in the
 * root namespace) on one more link to that bridge, all on a private /24 of 10.213.x.0. Loopback
 * never delays or drops a packet; these links can, with `tc netem` (delay, loss) or, for a
 * partition, with blackhole routes. Everything made carries the run's process id in its name,
 * is removed by `close()`, and a later run removes what a crashed one left (its process gone).
 * Needs root and iproute2 (`ip`, `tc`).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import type { Topology } from "../../mesh";
import { adminPortOf } from "../../mesh/telemetry";
import type { Member } from "../members";
import type { Placement } from "./placement";

const run = promisify(execFile);
const PREFIX = "meshchaos";
// Member i gets 10.213.x.(FIRST_HOST + i); the run's own end is .1.
const FIRST_HOST = 10;

/** Why members cannot get hosts of their own here, or undefined when they can. */
export async function networkUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces need root (run as root, as CI does)";
  try {
    await run("ip", ["-V"]);
    await run("tc", ["-V"]);
  } catch {
    return "iproute2 (ip, tc) is missing: apt-get install -y iproute2";
  }
  return undefined;
}

const ip = (...args: string[]) => run("ip", args);
const inNs = (ns: string, ...command: string[]) => run("ip", ["netns", "exec", ns, ...command]);
const quietly = async (work: Promise<unknown>): Promise<void> => {
  await work.catch(() => undefined);
};

/** Removes namespaces earlier runs made whose process is gone (a run that was killed). */
async function removeStale(): Promise<void> {
  const { stdout } = await ip("netns", "list");
  for (const line of stdout.split("\n")) {
    const name = line.split(" ")[0];
    const pid = new RegExp(`^${PREFIX}-(\\d+)-`).exec(name)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) await quietly(ip("netns", "delete", name));
  }
}

/** Whether this kernel has `tc netem` (sch_netem): tried on a namespace's loopback. */
async function hasNetem(ns: string): Promise<boolean> {
  try {
    await inNs(ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms");
    await inNs(ns, "tc", "qdisc", "del", "dev", "lo", "root");
    return true;
  } catch {
    return false;
  }
}

/** A /24 of 10.213.0.0/16 that no interface or route of this host uses yet. */
async function freeSubnet(): Promise<string> {
  const { stdout: routes } = await ip("-4", "route", "show", "table", "all");
  for (let attempt = 0; attempt < 64; attempt++) {
    const candidate = `10.213.${(process.pid + attempt) % 250}`;
    if (!routes.includes(`${candidate}.`)) return candidate;
  }
  throw new Error("no free 10.213.x.0/24 subnet for the chaos network");
}

/** Options for {@link networkPlacement}. */
export interface NetworkOptions {
  /** Progress lines. */
  say?: (line: string) => void;
}

/**
 * Makes the namespaces and links, and places every member on its own address; see the
 * module comment. Throws with the reason when it cannot (not root, no iproute2).
 */
export async function networkPlacement(
  topology: Topology,
  members: readonly Member[],
  options: NetworkOptions = {},
): Promise<Placement> {
  const reason = await networkUnavailable();
  if (reason) throw new Error(`members cannot get hosts of their own: ${reason}`);
  await removeStale();
  const tag = `${PREFIX}-${process.pid}`;
  const hub = `${tag}-hub`;
  // veth names have at most 15 characters: "mc" + the pid in base 36 + "r" or a member index.
  const short = `mc${process.pid.toString(36)}`;
  const rootLink = `${short}r`;
  const subnet = await freeSubnet();
  const made: string[] = [];
  const nsOf = new Map<string, string>();
  const hostOf = new Map<string, string>();
  const partitioned = new Map<string, { ns: string; routes: string[] }[]>();
  let netem = false;

  const close = async (): Promise<void> => {
    await quietly(ip("link", "delete", rootLink));
    for (const ns of made.reverse()) await quietly(ip("netns", "delete", ns));
  };

  try {
    await ip("netns", "add", hub);
    made.push(hub);
    await ip("-n", hub, "link", "set", "lo", "up");
    await ip("-n", hub, "link", "add", "br0", "type", "bridge");
    await ip("-n", hub, "link", "set", "br0", "up");
    // The run's own link: its address in the root namespace reaches every member.
    await ip("link", "add", rootLink, "type", "veth", "peer", "name", "up0", "netns", hub);
    await ip("-n", hub, "link", "set", "up0", "master", "br0", "up");
    await ip("addr", "add", `${subnet}.1/24`, "dev", rootLink);
    await ip("link", "set", rootLink, "up");
    for (const [i, member] of members.entries()) {
      const ns = `${tag}-${member.label}`;
      const host = `${subnet}.${FIRST_HOST + i}`;
      await ip("netns", "add", ns);
      made.push(ns);
      await ip("-n", ns, "link", "set", "lo", "up");
      // eth0 in the member's namespace, its peer on the hub's bridge.
      const hubEnd = `${short}m${i}`;
      await ip(
        "-n",
        ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        hubEnd,
        "netns",
        hub,
      );
      await ip("-n", hub, "link", "set", hubEnd, "master", "br0", "up");
      await ip("-n", ns, "addr", "add", `${host}/24`, "dev", "eth0");
      await ip("-n", ns, "link", "set", "eth0", "up");
      nsOf.set(member.label, ns);
      hostOf.set(member.label, host);
    }
    netem = await hasNetem(hub);
  } catch (err) {
    await close();
    throw err;
  }
  options.say?.(
    `network: ${members.length} namespaces on ${subnet}.0/24 (tc netem ${netem ? "available" : "NOT available: this kernel has no sch_netem; partitions use blackhole routes, delays cannot be made"})`,
  );

  const portOf = (member: Member): number =>
    Number(member.listen.slice(member.listen.lastIndexOf(":") + 1));
  const addressOf = (member: Member): string => `${hostOf.get(member.label)}:${portOf(member)}`;
  const targetOf = (service: string): string => {
    const of = members.filter((m) => m.service === service);
    return of.length === 1 ? addressOf(of[0]) : `ipv4:${of.map(addressOf).join(",")}`;
  };
  // Every member dials every service at its members' own addresses.
  const targets = Object.fromEntries(
    Object.keys(topology.services).map((service) => [
      `${service.toUpperCase().replace(/-/g, "_")}_TARGET`,
      targetOf(service),
    ]),
  );

  /** Blackhole routes both ways between `member` and `towards`: a partition, every kernel. */
  const partition = async (member: Member, towards: readonly Member[]): Promise<string> => {
    const cuts: { ns: string; routes: string[] }[] = [
      {
        ns: nsOf.get(member.label) as string,
        routes: towards.map((m) => hostOf.get(m.label) as string),
      },
      ...towards.map((m) => ({
        ns: nsOf.get(m.label) as string,
        routes: [hostOf.get(member.label) as string],
      })),
    ];
    for (const cut of cuts) {
      for (const route of cut.routes)
        await ip("-n", cut.ns, "route", "add", "blackhole", `${route}/32`);
    }
    partitioned.set(member.label, cuts);
    return `partition (blackhole routes both ways) between ${member.label} and ${towards.map((m) => m.label).join(", ")}`;
  };
  const heal = async (member: Member): Promise<void> => {
    for (const cut of partitioned.get(member.label) ?? []) {
      for (const route of cut.routes) {
        await quietly(ip("-n", cut.ns, "route", "delete", "blackhole", `${route}/32`));
      }
    }
    partitioned.delete(member.label);
    await quietly(
      inNs(nsOf.get(member.label) as string, "tc", "qdisc", "del", "dev", "eth0", "root"),
    );
  };

  return {
    description: `each member on a host of its own (network namespaces on ${subnet}.0/24, veth links to a bridge; tc netem ${netem ? "available" : "unavailable in this kernel"})`,
    envOf: (member) => ({ MESH_HOST: hostOf.get(member.label), ...targets }),
    wrapperOf: (member) => ["ip", "netns", "exec", nsOf.get(member.label) as string],
    addressOf,
    targetOf,
    metricsUrlOf: (member) =>
      `http://${hostOf.get(member.label)}:${adminPortOf(portOf(member))}/metrics`,
    async netem(member, spec, towards) {
      await heal(member);
      if (spec === null) return `network of ${member.label} healed`;
      const peers = towards ?? members.filter((m) => m.label !== member.label);
      if (!netem) {
        if (spec === "loss 100%") return partition(member, peers);
        return `SKIPPED "tc netem ${spec}" on ${member.label}: this kernel has no sch_netem`;
      }
      const ns = nsOf.get(member.label) as string;
      if (!towards) {
        await inNs(ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", ...spec.split(" "));
        return `tc netem ${spec} on every packet ${member.label} sends`;
      }
      // Only packets towards `towards` go through netem: a prio qdisc whose third band is
      // netem, and a u32 filter per peer address; the rest takes the first band.
      await inNs(
        ns,
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "handle",
        "1:",
        "prio",
        "bands",
        "3",
        "priomap",
        ..."1".repeat(16).split(""),
      );
      await inNs(
        ns,
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "parent",
        "1:3",
        "handle",
        "30:",
        "netem",
        ...spec.split(" "),
      );
      for (const peer of towards) {
        await inNs(
          ns,
          "tc",
          "filter",
          "add",
          "dev",
          "eth0",
          "parent",
          "1:",
          "protocol",
          "ip",
          "prio",
          "1",
          "u32",
          "match",
          "ip",
          "dst",
          `${hostOf.get(peer.label)}/32`,
          "flowid",
          "1:3",
        );
      }
      return `tc netem ${spec} on ${member.label}'s packets to ${towards.map((m) => m.label).join(", ")}`;
    },
    close,
  };
}
