import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "pg";
import { freePorts } from "../scripts/ports";

const PG_ROOT = "/usr/lib/postgresql";

/** The bin directory of the newest PostgreSQL installed by Debian's package, if any. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(PG_ROOT)) return undefined;
  const versions = readdirSync(PG_ROOT)
    .filter((v) => existsSync(join(PG_ROOT, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? join(PG_ROOT, versions[0], "bin") : undefined;
}

/** A PostgreSQL server of its own, started by a test file. */
export interface TestPostgres {
  /** postgres://…/`database` on this server. */
  url(database: string): string;
  /** Creates an empty database and resolves to its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (pg_ctl stop -m fast) and deletes its files. */
  stop(): Promise<void>;
}

// postgres refuses to run as root: as root, run its programs as the postgres user, which
// Debian's package creates, on a directory it owns.
const asRoot = process.getuid?.() === 0;
function runPg(bin: string, program: string, args: string[]): void {
  const command = asRoot ? "runuser" : join(bin, program);
  const argv = asRoot ? ["-u", "postgres", "--", join(bin, program), ...args] : args;
  execFileSync(command, argv, { stdio: "pipe", timeout: 60_000 });
}

/**
 * Initialises a cluster in a new temporary directory and starts it on a free port of
 * 127.0.0.1, its unix socket in that directory, trusting local connections, fsync on.
 */
export async function startPostgres(bin: string): Promise<TestPostgres> {
  const dir = mkdtempSync(join(tmpdir(), "mesh-pg-"));
  const data = join(dir, "data");
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  chmodSync(dir, 0o700);
  const [port] = await freePorts(1);
  // C collation orders text byte by byte, as SQLite does, so listings page alike on both.
  runPg(bin, "initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-locale",
    "--encoding=UTF8",
    "--no-sync",
  ]);
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=on",
    "-c max_connections=200",
  ].join(" ");
  runPg(bin, "pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", serverOptions, "-w", "start"]);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  let stopped = false;
  return {
    url,
    async createDatabase(name) {
      const admin = new Client({ connectionString: url("postgres") });
      await admin.connect();
      try {
        await admin.query(`create database "${name}"`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        runPg(bin, "pg_ctl", ["-D", data, "-w", "stop", "-m", "fast"]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
