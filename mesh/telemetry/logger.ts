import pino from "pino";

export type Logger = pino.Logger;

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Service name put on every line. */
  service: string;
  /** Instance label, for when a service runs more than once. Defaults to the process id. */
  instance?: string;
  /** Minimum level. Defaults to `LOG_LEVEL` or "info". */
  level?: string;
}

/** A structured JSON logger labelled with the service and instance. */
export function createLogger(options: LoggerOptions): Logger {
  return pino({
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    base: { service: options.service, instance: options.instance ?? String(process.pid) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything, for tests. */
export const silentLogger = (): Logger => pino({ level: "silent" });
