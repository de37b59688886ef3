/**
 * `npm run fuzz -- [--calls N] [--seed S] [--concurrency N]`: starts a mesh of its own (every
 * service of mesh.yaml, one process per instance, mTLS, stores in a temp folder, on free ports
 * of 127.0.0.1), sends it N generated malformed calls across every method of every port, and
 * prints how they ended by status code, and each member's memory. Exits 1 on any problem that
 * scripts/fuzz/report.ts `problemsOf` names.
 */
import { readFlags, positiveNumber, wholeNumber } from "./cli";
import { formatReport, problemsOf } from "./fuzz/report";
import { runFuzz, type FuzzReport } from "./fuzz/run";
import { shopServices } from "./members";
import { startScratchMesh, type ScratchMesh } from "./scratch-mesh";

const SCRIPT = {
  name: "fuzz",
  usage: `usage: npm run fuzz -- [--calls N] [--seed S] [--concurrency N] [--rounds N] [--case N]...

Starts a mesh of its own in a temp folder (mTLS, free ports of 127.0.0.1), sends it generated
malformed calls (random bytes, truncated and lying frames, wrong wire types, huge varints,
deep and oversized fields, oversized and numerous metadata) across every method of every port
(health, reflection and event streams included, each member's plaintext health listener, and
malformed HTTP to each admin port), and prints how they ended by status code. Exits 1 if any
ended INTERNAL, UNKNOWN or 5xx, quoted a stack trace or was never answered, or a member died
or kept more than 50 MB above its memory before the first call (members collect a burst's
garbage once idle). The same seed makes the same calls; a failure names its case number.

  --calls N           calls to make (default 10000)
  --seed S            the generator's seed (default 1)
  --concurrency N     calls in flight at once (default 16)
  --rounds N          send the same calls N times to the same mesh (default 1), memory measured
                      from before the first: a leak grows every round, a high-water mark stops
  --case N            replay only case N of the seed (repeat for more); --calls is then ignored
  -h, --help          show this and exit`,
  options: {
    calls: { type: "string" },
    seed: { type: "string" },
    concurrency: { type: "string" },
    rounds: { type: "string" },
    case: { type: "string", multiple: true },
  },
} as const;

async function main(): Promise<void> {
  const { values } = readFlags(SCRIPT);
  const calls = Math.round(positiveNumber(SCRIPT, "calls", values.calls, 10_000));
  const seed = wholeNumber(SCRIPT, "seed", values.seed, 1);
  const concurrency = Math.round(positiveNumber(SCRIPT, "concurrency", values.concurrency, 16));
  const rounds = Math.round(positiveNumber(SCRIPT, "rounds", values.rounds, 1));
  const cases = values.case?.map((raw) => wholeNumber(SCRIPT, "case", raw, 0));

  process.stderr.write("starting a mesh of its own in a temp folder…\n");
  const mesh: ScratchMesh = await startScratchMesh({
    services: shopServices(),
    healthListeners: true,
  });
  process.once("SIGINT", () => void mesh.stop().then(() => process.exit(130)));
  try {
    let first: FuzzReport | undefined;
    for (let round = 1; round <= rounds; round++) {
      if (rounds > 1) process.stderr.write(`round ${round} of ${rounds}\n`);
      let shown = 0;
      const report = await runFuzz(mesh, {
        calls,
        seed,
        concurrency,
        cases,
        onProgress: (done, total) => {
          const percent = Math.floor((done / total) * 100);
          if (percent >= shown + 10 || done === total) {
            shown = percent;
            process.stderr.write(`  ${done} / ${total} calls\n`);
          }
        },
      });
      first ??= report;
      // Every round's growth counts from before the first round's first call.
      const starts = new Map(first.members.map((m) => [m.member, m.rssStart]));
      const measured: FuzzReport = {
        ...report,
        members: report.members.map((m) => ({ ...m, rssStart: starts.get(m.member) ?? 0 })),
      };
      process.stdout.write(
        `${rounds > 1 ? `round ${round} of ${rounds}: ` : ""}${formatReport(measured)}\n`,
      );
      const problems = problemsOf(measured);
      if (problems.length > 0) {
        process.stdout.write(`FAILED: ${problems.join("; ")}\n`);
        process.exitCode = 1;
      }
    }
  } finally {
    await mesh.stop();
  }
}

main().catch((err: unknown) => {
  console.error(`fuzz failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
