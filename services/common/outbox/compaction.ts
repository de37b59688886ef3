import type { Logger } from "../../../mesh";
import type { Outbox } from "./outbox";

/** Options for {@link createCompaction}. */
export interface CompactionOptions {
  outbox: Pick<Outbox<{ sequence: number }>, "compact">;
  log: Logger;
  /** How often to compact. Defaults to 1 minute. */
  intervalMs?: number;
  /**
   * Events are kept at least this long after they were written, even once every consumer
   * has acknowledged them, so that a consumer can replay recent history. Defaults to 1 hour.
   */
  retentionMs?: number;
  /**
   * Most events deleted per statement, so that no statement holds the write lock for long.
   * Defaults to 1,000.
   */
  batchSize?: number;
  /** Epoch milliseconds. Defaults to Date.now. */
  now?: () => number;
}

/** Deletes outbox events that every consumer has acknowledged, once they are old enough. */
export interface Compaction {
  /** One pass; resolves to how many events were deleted. */
  runOnce(): Promise<number>;
  /** A pass every `intervalMs` until stopped. */
  start(): void;
  /** Stops the passes and waits for the one under way. */
  stop(): Promise<void>;
}

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_RETENTION_MS = 60 * 60_000;
const DEFAULT_BATCH_SIZE = 1_000;

export function createCompaction(options: CompactionOptions): Compaction {
  const { outbox, log } = options;
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  const retention = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<number> = Promise.resolve(0);
  let stopped = false;

  async function runOnce(): Promise<number> {
    const before = now() - retention;
    let deleted = 0;
    for (;;) {
      const batch = await outbox.compact(before, batchSize);
      deleted += batch;
      if (batch < batchSize || stopped) break;
    }
    if (deleted > 0) log.info({ deleted, retentionMs: retention }, "compacted the outbox");
    return deleted;
  }

  const schedule = (): void => {
    timer = setTimeout(() => {
      pass = runOnce().catch((err: unknown) => {
        log.error({ err }, "outbox compaction failed");
        return 0;
      });
      void pass.finally(() => {
        if (!stopped) schedule();
      });
    }, interval);
    // Compaction alone never keeps the process alive.
    timer.unref();
  };

  return {
    runOnce,
    start: schedule,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}
