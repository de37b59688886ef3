import type { LoadProgress } from "./driver";

const BAR_WIDTH = 30;

/**
 * Shows progress: on a terminal, one bar redrawn in place; otherwise (CI, a pipe) a plain
 * line per update, so that logs stay readable.
 */
export function createProgress(stream: NodeJS.WriteStream): {
  update: (p: LoadProgress) => void;
  end: () => void;
} {
  const tty = stream.isTTY;
  let drawn = false;
  return {
    update: (p) => {
      const byTime = p.elapsedMs / p.durationMs;
      const byCount = p.sent / p.maxRequests;
      const share = Math.min(1, Math.max(byTime, byCount));
      const rate = p.done / Math.max(0.001, p.elapsedMs / 1000);
      const text = `${(p.elapsedMs / 1000).toFixed(0)}s  sent ${p.sent}  done ${p.done}  errors ${p.errors}  in flight ${p.inFlight}  ${rate.toFixed(0)}/s`;
      if (!tty) {
        stream.write(`${text}\n`);
        return;
      }
      const filled = Math.round(share * BAR_WIDTH);
      const bar = `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${Math.round(share * 100)}%`;
      stream.write(`\r\x1b[2K${bar}  ${text}`);
      drawn = true;
    },
    end: () => {
      if (drawn) stream.write("\n");
    },
  };
}
