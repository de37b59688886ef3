/**
 * Runs the shipped grpcurl-compatible tool (`npm run grpc`, scripts/grpc.ts) as a user does,
 * compiled (dist/scripts/grpc.js, built by the tests' global set-up) to spare ts-node's start.
 * `runInShell` hands a whole command line to bash, with `grpcurl` being that tool, so that
 * the commands start:all prints and the README shows run exactly as pasted: bash does the
 * quoting, the variables and the pipes.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../mesh/config";

/** The compiled tool. */
export const GRPC_SCRIPT = join(projectRoot(), "dist", "scripts", "grpc.js");

/** What one run printed and how it exited. */
export interface GrpcRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of a run. */
export interface RunOptions {
  /** Where it runs. Defaults to the project root. */
  cwd?: string;
  /** Added to the environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to its stdin, which is then closed. Defaults to nothing. */
  stdin?: string;
  /** Killed (SIGKILL, by pid) after this long. Defaults to 30 s. */
  timeoutMs?: number;
}

/** Runs a program to its end, collecting what it printed. */
export function runProgram(
  command: string,
  args: string[],
  options: RunOptions = {},
): Promise<GrpcRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? projectRoot(),
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    child.stdin.end(options.stdin ?? "");
  });
}

/** `node dist/scripts/grpc.js ...args`. */
export function runGrpc(args: string[], options: RunOptions = {}): Promise<GrpcRun> {
  return runProgram(process.execPath, [GRPC_SCRIPT, ...args], options);
}

/** `bash -c commandLine`, where `grpcurl` runs the shipped tool. */
export function runInShell(commandLine: string, options: RunOptions = {}): Promise<GrpcRun> {
  const prelude = `grpcurl() { ${JSON.stringify(process.execPath)} ${JSON.stringify(GRPC_SCRIPT)} "$@"; }`;
  return runProgram("bash", ["-c", `${prelude}\n${commandLine}`], options);
}

/** grpcurl's ERROR block on stderr as { code, message }, or undefined when there is none. */
export function printedStatus(stderr: string): { code: string; message: string } | undefined {
  const match = /^ERROR:\n {2}Code: (\w+)\n {2}Message: (.*)$/m.exec(stderr);
  return match ? { code: match[1], message: match[2] } : undefined;
}
