/**
 * Calls made by an independent gRPC client, gRPC C-core (Debian's python3-grpcio, run with
 * /usr/bin/python3): where a grpc-js client would hide a problem (it refuses to send what C-core
 * sends, or reads answers differently), tests call through this. See test/python/grpc_calls.py.
 */
import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { toolAvailable } from "./external-tools";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(__dirname, "python", "grpc_calls.py");

/** One call for C-core to make; bytes go out unencoded. */
export interface CCoreCall {
  /** `host:port`. */
  target: string;
  /** `/package.Service/Method`. */
  path: string;
  /** Defaults to unary. */
  kind?: "unary" | "server_stream" | "bidi";
  /** The request messages (one for unary and server streams). Defaults to one empty message. */
  requests?: Buffer[];
  /** Metadata entries, repeats allowed (C-core sends a repeated key as repeated fields). */
  metadata?: [string, string][];
  /** Seconds. Defaults to 10. */
  timeout?: number;
  /** Client certificate, key and the CA, for mTLS; plaintext without. */
  tls?: { ca: string; cert: string; key: string };
}

/** How a C-core call ended. */
export interface CCoreOutcome {
  /** The status name, for example "INVALID_ARGUMENT". */
  code: string;
  details: string;
  seconds: number;
  /** Response messages received. */
  messages: number;
}

/**
 * Whether python3 with grpcio is here; missing under CI fails the run (apt package
 * python3-grpcio, .ci/apt-packages.d/hostile-input.txt), elsewhere the tests are skipped.
 */
export function hasCCore(): boolean {
  let found = true;
  try {
    execFileSync(PYTHON, ["-c", "import grpc"], { stdio: "pipe" });
  } catch {
    found = false;
  }
  return toolAvailable(found, "python3 with gRPC C-core (grpcio)", "python3-grpcio");
}

/** `describe`, or `describe.skip` when python3-grpcio is missing outside CI. */
export const describeWithCCore = hasCCore() ? describe : describe.skip;

/** Makes `calls` with C-core, `concurrency` at a time; outcomes in the calls' order. */
export function cCoreCalls(calls: CCoreCall[], concurrency = 8): Promise<CCoreOutcome[]> {
  const job = JSON.stringify({
    concurrency,
    calls: calls.map((call) => ({
      ...call,
      requests: (call.requests ?? [Buffer.alloc(0)]).map((r) => r.toString("base64")),
    })),
  });
  return new Promise((resolve, reject) => {
    const child = execFile(
      PYTHON,
      [SCRIPT],
      { maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`${SCRIPT} failed: ${err.message}\n${stderr}`));
        resolve((JSON.parse(stdout) as { outcomes: CCoreOutcome[] }).outcomes);
      },
    );
    child.stdin?.end(job);
  });
}
