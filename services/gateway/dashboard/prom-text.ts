/** One sample of the Prometheus text format: `name{label="value",...} 12.5`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// name, optional {labels}, value; an optional timestamp after it is ignored.
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
const UNESCAPE: Record<string, string> = { n: "\n", "\\": "\\", '"': '"' };

function parseValue(text: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  return Number(text);
}

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  for (let m = LABEL.exec(text); m; m = LABEL.exec(text)) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => UNESCAPE[c] ?? c);
    if (LABEL.lastIndex >= text.length) break;
  }
  return labels;
}

/**
 * Parses the Prometheus text exposition format (version 0.0.4, what prom-client writes) into
 * samples; comments, HELP and TYPE lines and malformed lines are skipped.
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const value = parseValue(match[3]);
    if (Number.isNaN(value)) continue;
    samples.push({ name: match[1], labels: match[2] ? parseLabels(match[2]) : {}, value });
  }
  return samples;
}
