import type { Logger } from "../telemetry/logger";

const SIGNALS = ["SIGTERM", "SIGINT"] as const;

/**
 * Runs `stop` once on the first SIGTERM or SIGINT, then exits 0 (1 if it failed). A second
 * signal exits at once, for an operator who does not want to wait.
 *
 * With `MESH_SUPERVISED=1` (set by `npm run start:all`), the end of standard input counts as
 * a signal too: the supervisor holds the other end of the pipe, so if it dies, even by
 * SIGKILL, the service stops instead of living on as an orphan.
 */
export function onShutdownSignal(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handle = (reason: string): void => {
    if (stopping) {
      log.warn({ reason }, "second signal; exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, "shutting down");
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  for (const signal of SIGNALS) process.on(signal, handle);
  if (process.env.MESH_SUPERVISED === "1") {
    process.stdin.on("end", () => handle("supervisor gone"));
    process.stdin.on("error", () => handle("supervisor gone"));
    process.stdin.resume();
  }
}
