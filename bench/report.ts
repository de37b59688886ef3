import { cpus, totalmem } from "node:os";

/** A target from the issue, and whether this run met it. */
export interface TargetCheck {
  /** What is compared, e.g. "mesh / raw throughput". */
  name: string;
  value: number;
  /** The target as written, e.g. "≥ 0.95". */
  target: string;
  met: boolean;
}

/** One comparison of the suite, as printed and as written to JSON. */
export interface SectionResult {
  id: string;
  title: string;
  /** What was run, in one or two sentences. */
  setup: string;
  columns: string[];
  rows: (string | number)[][];
  /** Every number of the section by name, for JSON readers and the smoke test. */
  figures: Record<string, number>;
  targets: TargetCheck[];
  /** What bounds the numbers, and anything a reader must know to trust them. */
  notes: string[];
  /** Set when the section could not run here, saying why. */
  skipped?: string;
}

/** Where and how the suite ran. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load average when the run began: above the core count means a busy machine. */
  loadAverage: number;
}

/** The whole report. */
export interface BenchReport {
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  mode: "quick" | "full";
  sections: SectionResult[];
}

/** The machine as the report names it. */
export function machineInfo(loadAverage: number): MachineInfo {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model ?? "unknown",
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage,
  };
}

function table(columns: string[], rows: (string | number)[][]): string[] {
  const cells = [columns, ...rows.map((r) => r.map(String))];
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string =>
    r
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(cells[0]), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)];
}

/** The report as people read it: header, then each section's table, targets and notes. */
export function formatReport(report: BenchReport): string {
  const m = report.machine;
  const out = [
    `grpc-shop-mesh benchmark suite (${report.mode})`,
    `  command   ${report.command}`,
    `  started   ${report.startedAt}   finished ${report.finishedAt}`,
    `  machine   ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, node ${m.node}`,
    `  load      ${m.loadAverage.toFixed(2)} (1-min average at start; above ${m.cores} means other work competed for the CPU)`,
  ];
  for (const s of report.sections) {
    out.push("", `${s.id}. ${s.title}`, `   ${s.setup}`);
    if (s.skipped) {
      out.push(`   SKIPPED: ${s.skipped}`);
      continue;
    }
    out.push("", ...table(s.columns, s.rows).map((l) => `   ${l}`));
    if (s.targets.length > 0) out.push("");
    for (const t of s.targets) {
      out.push(`   ${t.met ? "✓" : "✗"} ${t.name}: ${t.value} (target ${t.target})`);
    }
    for (const n of s.notes) out.push(`   · ${n}`);
  }
  return out.join("\n");
}
