/**
 * What a fuzz campaign's report means: the problems that fail it, and a summary to print.
 */
import type { FuzzReport } from "./run";

/** Most a member's resident memory may grow over a run: from before the first call to after the last. */
export const MAX_GROWTH_BYTES = 50 * 1_048_576;

/** Why a run failed, or an empty list. */
export function problemsOf(report: FuzzReport): string[] {
  const problems: string[] = [];
  if (report.failures.length > 0) {
    problems.push(`${report.failures.length} calls ended INTERNAL, UNKNOWN or unanswered`);
  }
  for (const m of report.members) {
    if (!m.alive || !m.samePid) problems.push(`${m.member} died or was restarted`);
    if (m.rssAfter - m.rssStart > MAX_GROWTH_BYTES) {
      problems.push(`${m.member} grew by more than 50 MB`);
    }
  }
  return problems;
}

/** A readable summary: calls by status code, by kind, and each member's memory. */
export function formatReport(report: FuzzReport): string {
  const targets = report.perTarget.size;
  const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`;
  const rows = (map: Map<string, number>): string =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .map(([key, n]) => `  ${key.padEnd(32)} ${n}`)
      .join("\n");
  const members = report.members
    .map(
      (m) =>
        `  ${m.member.padEnd(16)} ${mb(m.rssStart).padStart(9)} ${mb(m.rssBefore).padStart(9)} → ${mb(m.rssAfter).padStart(9)}` +
        `  (${m.rssAfter >= m.rssStart ? "+" : ""}${mb(m.rssAfter - m.rssStart)})` +
        (m.alive && m.samePid ? "" : "  DIED OR RESTARTED"),
    )
    .join("\n");
  const failures = report.failures
    .slice(0, 20)
    .map(
      (f) =>
        `  case ${f.n}: ${f.member} ${f.path} (${f.how}) → ${f.code} ${f.details.slice(0, 120)}`,
    )
    .join("\n");
  return [
    `fuzz: ${report.calls} calls over ${targets} targets (every method of every port) (seed ${report.seed}) in ${report.seconds.toFixed(1)} s`,
    "by status code:",
    rows(report.byCode),
    "by kind:",
    rows(report.byKind),
    `members' resident memory: at start, after the ${report.warmUp} warm-up calls → lowest in the 15 s after the last (growth from the start; at most ${mb(MAX_GROWTH_BYTES)}):`,
    members,
    report.failures.length === 0
      ? "no INTERNAL, UNKNOWN or unanswered call"
      : `${report.failures.length} calls ended INTERNAL, UNKNOWN or unanswered (first 20; replay one with --seed ${report.seed} --case N):\n${failures}`,
  ].join("\n");
}
