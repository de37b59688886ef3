/** Turns the services' JSON log lines into one readable, labelled line each. */

const LEVELS: Record<number, string> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const COLORS = [36, 35, 33, 32, 34, 31, 96, 95];
// The label already names the member; service, instance and member would repeat it on every line.
const OMITTED = new Set([
  "level",
  "time",
  "msg",
  "service",
  "instance",
  "member",
  "pid",
  "hostname",
]);

const paint = (code: number, text: string, color: boolean): string =>
  color ? `\x1b[${code}m${text}\x1b[0m` : text;

/** A stable colour per label, so a service keeps its colour across runs. */
export function colorOf(label: string): number {
  let hash = 0;
  for (const ch of label) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return COLORS[hash % COLORS.length];
}

const show = (value: unknown): string => {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value && typeof value === "object" && "message" in value)
    return JSON.stringify((value as Error).message);
  return JSON.stringify(value);
};

/**
 * `12:01:02 INFO  users      serving address=127.0.0.1:50051`. Lines that are not JSON
 * (a crash before the logger exists) are labelled and passed through as they are.
 */
export function formatLine(label: string, line: string, color: boolean, width = 10): string {
  const tag = paint(colorOf(label), label.padEnd(width), color);
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `${" ".repeat(15)}${tag} ${line}`;
  }
  if (typeof entry !== "object" || entry === null) return `${" ".repeat(15)}${tag} ${line}`;
  const time = typeof entry.time === "string" ? entry.time.slice(11, 19) : "        ";
  const level = LEVELS[entry.level as number] ?? "INFO";
  const levelText =
    level === "ERROR" || level === "FATAL"
      ? paint(31, level.padEnd(5), color)
      : level === "WARN"
        ? paint(33, level.padEnd(5), color)
        : level.padEnd(5);
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key))
    .map(([key, value]) => `${paint(90, `${key}=`, color)}${show(value)}`)
    .join(" ");
  return `${time} ${levelText} ${tag} ${typeof entry.msg === "string" ? entry.msg : ""}${fields ? ` ${fields}` : ""}`;
}
