import { formatMs, round3, type LatencySummary } from "../stats";
import type { LoadResult } from "./driver";

/** What was run, for the report's header and the JSON. */
export interface LoadRunInfo {
  command: string;
  startedAt: string;
  journey: string;
  model: string;
  targets: Record<string, string>;
}

const latencyLine = (l: LatencySummary): string =>
  [l.p50, l.p90, l.p99, l.max].map(formatMs).join(" / ");

/** The summary printed at the end of a run. */
export function formatSummary(info: LoadRunInfo, r: LoadResult): string {
  const row = (label: string, value: string): string => `  ${label.padEnd(28)}${value}`;
  const errors = Object.values(r.errorsByCode).reduce((a, b) => a + b, 0);
  const lines = [
    `Load test: ${info.journey}, ${info.model}`,
    row(
      "targets",
      Object.entries(info.targets)
        .map(([k, v]) => `${k} ${v}`)
        .join(", "),
    ),
    row(
      "requests",
      `${r.sent} sent, ${r.ok} ok, ${errors} failed in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    ),
    row("throughput", `${r.rps.toFixed(1)} requests/s`),
    row("latency p50/p90/p99/max", latencyLine(r.latency)),
    row(
      "errors by code",
      errors === 0
        ? "none"
        : Object.entries(r.errorsByCode)
            .map(([c, n]) => `${c} ${n}`)
            .join(", "),
    ),
    "",
    "  by method",
    ...Object.entries(r.byMethod).map(([m, l]) =>
      row(`    ${m}`, `${l.count} ok, ${l.errors} failed, ${latencyLine(l)}`),
    ),
  ];
  return lines.join("\n");
}

/** The run as JSON: the summary's numbers, per method and per second. */
export function toJson(info: LoadRunInfo, r: LoadResult): string {
  const ms = (l: LatencySummary) => ({
    count: l.count,
    p50: round3(l.p50),
    p90: round3(l.p90),
    p99: round3(l.p99),
    max: round3(l.max),
  });
  return `${JSON.stringify(
    {
      ...info,
      sent: r.sent,
      ok: r.ok,
      elapsedMs: Math.round(r.elapsedMs),
      rps: round3(r.rps),
      latencyMs: ms(r.latency),
      errorsByCode: r.errorsByCode,
      byMethod: Object.fromEntries(
        Object.entries(r.byMethod).map(([k, v]) => [k, { ...ms(v), errors: v.errors }]),
      ),
      timeline: r.timeline.map((s) => ({
        ...s,
        p50: round3(s.p50),
        p99: round3(s.p99),
        max: round3(s.max),
      })),
    },
    null,
    2,
  )}\n`;
}

const escape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const CHART = { width: 900, height: 320, left: 60, right: 60, top: 20, bottom: 40 };
const SERIES = [
  { key: "p50", color: "#2b7bb9" },
  { key: "p99", color: "#d9822b" },
  { key: "max", color: "#c23030" },
] as const;

/** An SVG chart of latency (p50, p99, max per second) and throughput over the run. */
function chart(r: LoadResult): string {
  const { width, height, left, right, top, bottom } = CHART;
  const t = r.timeline;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const maxMs = Math.max(1, ...t.map((s) => s.max));
  const maxRps = Math.max(1, ...t.map((s) => s.completed));
  const x = (second: number): number =>
    left + (t.length <= 1 ? 0 : (second / (t.length - 1)) * plotW);
  const y = (v: number, max: number): number => top + plotH - (v / max) * plotH;
  const bars = t
    .map((s) => {
      const h = (s.completed / maxRps) * plotH;
      return `<rect x="${(x(s.second) - 3).toFixed(1)}" y="${(top + plotH - h).toFixed(1)}" width="6" height="${h.toFixed(1)}" fill="#ccc"><title>${s.second}s: ${s.completed} completed, ${s.errors} errors</title></rect>`;
    })
    .join("");
  const lines = SERIES.map(({ key, color }) => {
    const points = t
      .map((s) => `${x(s.second).toFixed(1)},${y(s[key], maxMs).toFixed(1)}`)
      .join(" ");
    return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"/>`;
  }).join("");
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const yy = top + plotH - f * plotH;
      return `<line x1="${left}" x2="${width - right}" y1="${yy}" y2="${yy}" stroke="#eee"/><text x="${left - 6}" y="${yy + 4}" text-anchor="end">${(f * maxMs).toFixed(1)} ms</text><text x="${width - right + 6}" y="${yy + 4}">${Math.round(f * maxRps)}/s</text>`;
    })
    .join("");
  const legend = SERIES.map(
    ({ key, color }, i) =>
      `<text x="${left + 10 + i * 80}" y="${height - 8}" fill="${color}">■ ${key}</text>`,
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">${ticks}${bars}${lines}${legend}<text x="${left + 260}" y="${height - 8}" fill="#999">■ completed per second (right axis)</text><text x="${width / 2}" y="${height - 22}" text-anchor="middle">seconds since start (by completion)</text></svg>`;
}

/** A self-contained HTML page: the summary and the chart, no script and nothing fetched. */
export function toHtml(info: LoadRunInfo, r: LoadResult): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Load test ${escape(info.startedAt)}</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}</style></head>
<body><h1>Load test: ${escape(info.journey)}</h1>
<p>${escape(info.command)} — started ${escape(info.startedAt)}</p>
${chart(r)}
<pre>${escape(formatSummary(info, r))}</pre>
</body></html>
`;
}
