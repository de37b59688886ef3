import { Client, credentials, Metadata } from "@grpc/grpc-js";
import { createPeer, loadTopology, silentLogger } from "../mesh";
import { meshBalancing } from "../mesh/client";
import { loadDescriptors, serviceConfigFor } from "../mesh/config";
import { createTelemetry } from "../mesh/telemetry";
import { freePorts } from "../scripts/ports";
import { processCpuMs, spawnNode, type Child } from "./child";
import { runClosedLoop, type CallFn } from "./closed-loop";
import { benchScript, type BenchConfig } from "./config";
import { ECHO_PATH, ECHO_PAYLOAD_BYTES, EchoService, echoPayload } from "./echo";
import { haproxyMissing, startSidecar, type Sidecar } from "./haproxy";
import type { SectionResult } from "./report";
import { median, round3 } from "../scripts/stats";

/** One way of making the echo call, with the processes that serve it. */
interface Variant {
  name: "raw" | "features" | "mesh" | "telemetry" | "recorded" | "sidecar";
  call: CallFn;
  /** Processes other than this one that work for each call: [server, ...proxies]. */
  pids: number[];
  close(): void;
}

/** One measured round of one variant at one concurrency. */
interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU per successful call, in microseconds: this process, the server, the proxies. */
  clientCpuUs: number;
  serverCpuUs: number;
  proxyCpuUs: number;
}

type Phase = "throughput" | "latency";

const identity = (b: Buffer): Buffer => b;

function rawVariant(name: "raw" | "sidecar", target: string, pids: number[]): Variant {
  const client = new Client(target, credentials.createInsecure());
  const payload = echoPayload();
  return {
    name,
    pids,
    // Plain grpc-js, as its README shows it: a callback, no deadline, no metadata of our own.
    call: (done) => client.makeUnaryRequest(ECHO_PATH, identity, identity, payload, done),
    close: () => client.close(),
  };
}

/**
 * Plain grpc-js with what the mesh turns on in grpc-js itself: the service config built from
 * the policy (the mesh's round robin with outlier ejection, retry throttling) and a deadline on
 * every call. Against raw, it is what those features cost; the mesh pays for them too, but calls
 * through `Channel.createCall` instead of `Client.makeUnaryRequest` (see mesh/client.ts).
 */
function featuresVariant(target: string, pid: number): Variant {
  const policy = loadTopology().policy;
  const balancing = policy.outlierDetection && meshBalancing(policy.outlierDetection).config;
  const config = serviceConfigFor(
    "bench.echo.v1.EchoService",
    policy,
    loadDescriptors(),
    balancing || undefined,
  );
  const client = new Client(target, credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify(config),
  });
  const payload = echoPayload();
  const timeoutMs = policy.defaults.timeout;
  return {
    name: "features",
    pids: [pid],
    call: (done) =>
      client.makeUnaryRequest(
        ECHO_PATH,
        identity,
        identity,
        payload,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        done,
      ),
    close: () => client.close(),
  };
}

/** Every trace recorded, where the default records at most 10 new ones a second (sampler.ts). */
const RECORD_EVERY_TRACE = { MESH_TRACE_SAMPLE: "1" };

function meshVariant(
  target: string,
  pid: number,
  name: "mesh" | "telemetry" | "recorded" = "mesh",
): Variant {
  // As a service calls a peer: the project's policy (deadline, breaker, balancing, ejection),
  // and with telemetry its metrics and trace context per call (and a span per call recorded by
  // the callee's and this client's sampler), as services run.
  const telemetry =
    name === "mesh"
      ? undefined
      : createTelemetry({
          service: "bench-client",
          member: "bench-client-1",
          log: silentLogger(),
          env: name === "recorded" ? { ...process.env, ...RECORD_EVERY_TRACE } : process.env,
        });
  const peer = createPeer(EchoService, { target, policy: loadTopology().policy, telemetry });
  const payload = echoPayload();
  return {
    name,
    pids: [pid],
    call: (done) => {
      peer.echo(payload).then(() => done(null), done);
    },
    close: () => peer.close(),
  };
}

async function sample(variant: Variant, concurrency: number, ms: number): Promise<Sample> {
  const cpuOf = (pids: number[]): number => pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
  const client0 = process.cpuUsage();
  const server0 = cpuOf(variant.pids.slice(0, 1));
  const proxy0 = cpuOf(variant.pids.slice(1));
  const result = await runClosedLoop(variant.call, { concurrency, durationMs: ms });
  const client = process.cpuUsage(client0);
  const ok = Math.max(1, result.calls - result.errors);
  if (result.errors > 0) {
    throw new Error(`${variant.name}: ${result.errors} echo calls failed: ${result.firstError}`);
  }
  return {
    rps: result.rps,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    clientCpuUs: (client.user + client.system) / ok,
    serverCpuUs: ((cpuOf(variant.pids.slice(0, 1)) - server0) * 1000) / ok,
    proxyCpuUs: ((cpuOf(variant.pids.slice(1)) - proxy0) * 1000) / ok,
  };
}

type Medians = Record<keyof Sample, number>;

/** A variant's medians per phase, and its throughput in each round, in round order. */
type Measured = Record<Phase, Medians> & { roundRps: number[] };

/**
 * The median over rounds of `a`'s throughput over `b`'s in the same round: each pair was
 * measured seconds apart, so a slow spell of the machine that spans a round cancels out, where
 * a ratio of two medians taken apart keeps it.
 */
const withinRounds = (a: Measured, b: Measured): number =>
  round3(median(a.roundRps.map((rps, i) => rps / b.roundRps[i])));

function medians(samples: Sample[]): Medians {
  const keys = Object.keys(samples[0]) as (keyof Sample)[];
  return Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s[k]))])) as Medians;
}

/**
 * Runs every variant in alternating order, round after round, so that a change in the
 * machine's load (other processes) hits each variant alike; returns the median per variant
 * and phase, and each round's throughput.
 */
async function measureAll(
  variants: Variant[],
  config: BenchConfig,
): Promise<Map<string, Measured>> {
  const samples = new Map(variants.map((v) => [v.name, { throughput: [], latency: [] }])) as Map<
    string,
    Record<Phase, Sample[]>
  >;
  for (const v of variants) await sample(v, config.hopConcurrency, config.warmupMs);
  for (let round = 0; round < config.rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    for (const v of order) {
      const mine = samples.get(v.name) as Record<Phase, Sample[]>;
      mine.throughput.push(await sample(v, config.hopConcurrency, config.roundMs));
      mine.latency.push(await sample(v, 1, config.roundMs));
    }
  }
  return new Map(
    [...samples].map(([name, s]) => [
      name,
      {
        throughput: medians(s.throughput),
        latency: medians(s.latency),
        roundRps: s.throughput.map((x) => x.rps),
      },
    ]),
  );
}

const us = (ms: number): number => Math.round(ms * 1000);

/**
 * Sections a (mesh hop vs raw grpc-js hop) and b (mesh hop vs a pair of HAProxy sidecars):
 * echo servers in child processes, load from this process, every variant in each round.
 */
export async function runHops(
  config: BenchConfig,
): Promise<{ mesh: SectionResult; sidecar: SectionResult }> {
  const children: Child[] = [];
  const sidecars: Sidecar[] = [];
  const variants: Variant[] = [];
  const missing = haproxyMissing();
  if (missing && process.env.CI) throw new Error(`section b needs HAProxy in CI: ${missing}`);
  try {
    const raw = await spawnNode(benchScript("echo-server"), ["raw"], "LISTENING");
    const mesh = await spawnNode(benchScript("echo-server"), ["mesh"], "LISTENING");
    const traced = await spawnNode(benchScript("echo-server"), ["telemetry"], "LISTENING");
    const recorded = await spawnNode(
      benchScript("echo-server"),
      ["telemetry"],
      "LISTENING",
      RECORD_EVERY_TRACE,
    );
    children.push(raw, mesh, traced, recorded);
    const rawTarget = `127.0.0.1:${raw.ready.split(" ")[1]}`;
    const meshTarget = `127.0.0.1:${mesh.ready.split(" ")[1]}`;
    variants.push(rawVariant("raw", rawTarget, [raw.process.pid as number]));
    variants.push(featuresVariant(rawTarget, raw.process.pid as number));
    variants.push(meshVariant(meshTarget, mesh.process.pid as number));
    variants.push(
      meshVariant(
        `127.0.0.1:${traced.ready.split(" ")[1]}`,
        traced.process.pid as number,
        "telemetry",
      ),
      meshVariant(
        `127.0.0.1:${recorded.ready.split(" ")[1]}`,
        recorded.process.pid as number,
        "recorded",
      ),
    );
    if (!missing) {
      // client → outbound sidecar → inbound sidecar → server, as a sidecar mesh routes a call.
      const [outPort, inPort] = await freePorts(2);
      const inbound = await startSidecar(inPort, rawTarget);
      sidecars.push(inbound);
      const outbound = await startSidecar(outPort, `127.0.0.1:${inPort}`);
      sidecars.push(outbound);
      variants.push(
        rawVariant("sidecar", `127.0.0.1:${outPort}`, [
          raw.process.pid as number,
          outbound.pid,
          inbound.pid,
        ]),
      );
    }
    const results = await measureAll(variants, config);
    return {
      mesh: meshSection(results, config),
      sidecar: sidecarSection(results, config, missing),
    };
  } finally {
    for (const v of variants) v.close();
    await Promise.all([...sidecars, ...children].map((c) => c.stop()));
  }
}

function meshSection(results: Map<string, Measured>, config: BenchConfig): SectionResult {
  const raw = results.get("raw") as Measured;
  const mesh = results.get("mesh") as Measured;
  const features = results.get("features") as Measured;
  const traced = results.get("telemetry") as Measured;
  const ratio = round3(mesh.throughput.rps / raw.throughput.rps);
  const telemetryRatio = round3(traced.throughput.rps / raw.throughput.rps);
  const everyTrace = results.get("recorded") as Measured;
  const row = (name: string, r: Record<Phase, Medians>): (string | number)[] => [
    name,
    Math.round(r.throughput.rps),
    us(r.throughput.p50),
    us(r.throughput.p99),
    us(r.latency.p50),
    us(r.latency.p99),
    Math.round(r.throughput.clientCpuUs),
    Math.round(r.throughput.serverCpuUs),
  ];
  return {
    id: "a",
    title: "Mesh hop vs raw grpc-js hop (unary echo)",
    setup:
      `Echo of ${ECHO_PAYLOAD_BYTES} bytes; server in a child process, client in this one; ` +
      `${config.hopConcurrency} calls in flight (throughput) and 1 (latency); ` +
      `${config.rounds} rounds of ${config.roundMs} ms alternating raw/mesh after ${config.warmupMs} ms warm-up; medians of rounds.`,
    columns: [
      "hop",
      `calls/s @${config.hopConcurrency}`,
      "p50 µs",
      "p99 µs",
      "p50 µs @1",
      "p99 µs @1",
      "client CPU µs/call",
      "server CPU µs/call",
    ],
    rows: [
      row("raw grpc-js", raw),
      row("grpc-js + deadline + mesh service config", features),
      row("mesh", mesh),
      row("mesh + telemetry (default: at most 10 new traces/s)", traced),
      row("mesh + telemetry, every trace recorded", everyTrace),
    ],
    figures: {
      raw_rps: round3(raw.throughput.rps),
      mesh_rps: round3(mesh.throughput.rps),
      features_rps: round3(features.throughput.rps),
      throughput_ratio: ratio,
      features_ratio: round3(features.throughput.rps / raw.throughput.rps),
      telemetry_rps: round3(traced.throughput.rps),
      telemetry_ratio: telemetryRatio,
      recorded_rps: round3(everyTrace.throughput.rps),
      recorded_ratio: round3(everyTrace.throughput.rps / raw.throughput.rps),
      throughput_ratio_within_rounds: withinRounds(mesh, raw),
      telemetry_ratio_within_rounds: withinRounds(traced, raw),
      added_p50_us: us(mesh.throughput.p50 - raw.throughput.p50),
      added_p99_us: us(mesh.throughput.p99 - raw.throughput.p99),
      added_p50_us_at_1: us(mesh.latency.p50 - raw.latency.p50),
      added_p99_us_at_1: us(mesh.latency.p99 - raw.latency.p99),
      mesh_client_cpu_us: round3(mesh.throughput.clientCpuUs),
      raw_client_cpu_us: round3(raw.throughput.clientCpuUs),
      mesh_server_cpu_us: round3(mesh.throughput.serverCpuUs),
      raw_server_cpu_us: round3(raw.throughput.serverCpuUs),
    },
    targets: [
      { name: "mesh / raw throughput", value: ratio, target: "≥ 0.95", met: ratio >= 0.95 },
      {
        name: "mesh + telemetry / raw throughput",
        value: telemetryRatio,
        target: "≥ 1.0",
        met: telemetryRatio >= 1,
      },
    ],
    notes: [
      `Added latency: p50 ${us(mesh.latency.p50 - raw.latency.p50)} µs, p99 ${us(mesh.latency.p99 - raw.latency.p99)} µs at 1 in flight; p50 ${us(mesh.throughput.p50 - raw.throughput.p50)} µs, p99 ${us(mesh.throughput.p99 - raw.throughput.p99)} µs at ${config.hopConcurrency}.`,
      `Within rounds (the median over rounds of each round's own ratio, which a slow spell of the machine cancels out of): mesh / raw ${withinRounds(mesh, raw)}, mesh + telemetry / raw ${withinRounds(traced, raw)}, every trace recorded / raw ${withinRounds(everyTrace, raw)}.`,
      "Telemetry as services run it: metrics, a traceparent on every call, and spans for the traces the sampler records: by default at most 10 new traces a second per process (MESH_TRACE_SAMPLE), each call following its caller; the last row records every trace (MESH_TRACE_SAMPLE=1 at both ends).",
      "Bound: client and server share the machine's cores, so throughput is bounded by their CPU per call. The middle row is plain grpc-js (Client.makeUnaryRequest) with what the mesh switches on inside grpc-js (a deadline, so a timer at each end; round robin behind outlier detection; retry throttling). The mesh pays for those too, plus its own code (breaker, promise API, handler adapter, call context), but starts its calls on the channel (Channel.createCall) without the Client's per-call layers (a new Error() for the caller's stack, an EventEmitter, the interceptor chain), which cost more client CPU than all of that.",
    ],
  };
}

function sidecarSection(
  results: Map<string, Record<Phase, Medians>>,
  config: BenchConfig,
  missing: string | undefined,
): SectionResult {
  const base = {
    id: "b",
    title: "Mesh hop vs a sidecar pair (client → HAProxy → HAProxy → server)",
    setup:
      "The raw echo hop routed through two HAProxy processes (mode http, proto h2 on both sides, 1 thread each, loopback), against the mesh hop; latency at 1 call in flight, CPU per call of every process involved.",
    columns: ["hop", "p50 µs @1", "p99 µs @1", "added p50 µs", "CPU µs/call (all processes)"],
  };
  if (missing) {
    return { ...base, rows: [], figures: {}, targets: [], notes: [], skipped: missing };
  }
  const raw = results.get("raw") as Record<Phase, Medians>;
  const mesh = results.get("mesh") as Record<Phase, Medians>;
  const sidecar = results.get("sidecar") as Record<Phase, Medians>;
  const cpu = (r: Record<Phase, Medians>): number =>
    r.throughput.clientCpuUs + r.throughput.serverCpuUs + r.throughput.proxyCpuUs;
  const meshAdded = mesh.latency.p50 - raw.latency.p50;
  const sidecarAdded = sidecar.latency.p50 - raw.latency.p50;
  const share = round3(meshAdded / sidecarAdded);
  const row = (name: string, r: Record<Phase, Medians>): (string | number)[] => [
    name,
    us(r.latency.p50),
    us(r.latency.p99),
    us(r.latency.p50 - raw.latency.p50),
    Math.round(cpu(r)),
  ];
  return {
    ...base,
    rows: [row("raw grpc-js", raw), row("mesh", mesh), row("sidecar pair", sidecar)],
    figures: {
      mesh_added_p50_us: us(meshAdded),
      sidecar_added_p50_us: us(sidecarAdded),
      mesh_share_of_sidecar_added_p50: share,
      sidecar_added_p99_us: us(sidecar.latency.p99 - raw.latency.p99),
      raw_cpu_us_per_call: round3(cpu(raw)),
      mesh_cpu_us_per_call: round3(cpu(mesh)),
      sidecar_cpu_us_per_call: round3(cpu(sidecar)),
      sidecar_proxy_cpu_us_per_call: round3(sidecar.throughput.proxyCpuUs),
      sidecar_rps: round3(sidecar.throughput.rps),
    },
    targets: [
      {
        name: "mesh added p50 / sidecar pair added p50",
        value: share,
        target: "≤ 0.1",
        met: share <= 0.1,
      },
    ],
    notes: [
      `CPU per call measured at ${config.hopConcurrency} in flight: process.cpuUsage for this process, /proc/<pid>/stat (10 ms ticks) for the server and the proxies.`,
      "Bound: each sidecar adds two HTTP/2 parses and a loopback round trip per call; the mesh adds work only inside the two processes that exist anyway.",
    ],
  };
}
