import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { loadTopology } from "../../mesh";
import { projectRoot } from "../../mesh/config";
import { goCodeName } from "../../scripts/grpc/status-text";
import { toolAvailable } from "../external-tools";
import { GRPC_SCRIPT, printedStatus, runProgram } from "../grpc-cli";
import { freeGatewayEnv, freeInstancePorts, startAll, type StartAll } from "./processes";

/**
 * The commands README.md and docs/*.md show run against a real mesh, as `npm run start:all`
 * starts it (mTLS, the operator's certificate), and print what the documents say they print.
 *
 * A shell block is run when it is made of grpcurl, `npm run -s grpc --` and curl commands and
 * assignments of a quoted value or a command's output (`TOKEN=$(…)`); each file's blocks share one bash session (its variables), with
 * `grpcurl` being the shipped tool. A command must exit 0 with nothing on stderr, or, when a
 * `Code: X` comment follows it, fail with X (exit 64 + X). Every comment line right under a
 * command (no blank line between) must appear in what it printed; `…` stands for anything.
 * The documents use the default ports and data folder; the run uses free ones, so addresses
 * and `data/pki/` are rewritten to the run's before bash sees them.
 */
const root = projectRoot();
const STARTUP_MS = 90_000;
const NAMES = ["users", "inventory", "payments", "orders", "notifications"] as const;
const DOCUMENTS = [
  "README.md",
  ...readdirSync(join(root, "docs"))
    .filter((f) => f.endsWith(".md"))
    .sort()
    .map((f) => `docs/${f}`),
];

/** The runnable commands of a document, in order. */
function runnableCommands(doc: string): Documented[] {
  return shellBlocks(readFileSync(join(root, doc), "utf8"))
    .map(commandsOf)
    .filter((block) => block.length > 0 && block.every((c) => RUNNABLE.test(c.command)))
    .flat();
}

/** One command of a document, with the output it says it prints. */
interface Documented {
  command: string;
  expected: string[];
}

const RUNNABLE = /^(grpcurl |npm run -s grpc -- |curl |[A-Z_]+=(\$\(|'|"))/;
const MENTIONS_GRPCURL = /^(grpcurl |npm run -s grpc)/;

/** The shell blocks of a markdown file, as logical lines (continuations joined). */
function shellBlocks(markdown: string): string[][] {
  const blocks: string[][] = [];
  const fence = /^```sh\n([\s\S]*?)^```$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    const lines: string[] = [];
    for (const raw of m[1].split("\n")) {
      const previous = lines.at(-1);
      // A line ending in \, | or && goes on on the next one.
      if (previous !== undefined && /(\\|\||&&)$/.test(previous) && !previous.startsWith("#"))
        lines[lines.length - 1] = `${previous}\n${raw}`;
      else lines.push(raw);
    }
    blocks.push(lines);
  }
  return blocks;
}

/** A block's commands with the comment lines right under each. */
function commandsOf(block: string[]): Documented[] {
  const commands: Documented[] = [];
  let last: Documented | undefined;
  for (const line of block) {
    if (line.trim() === "") last = undefined;
    else if (line.startsWith("#")) last?.expected.push(line.slice(1).trim());
    else commands.push((last = { command: line, expected: [] }));
  }
  return commands;
}

/** Whether `text` holds every piece of `fragment` (split at "…") in order. */
function contains(text: string, fragment: string): boolean {
  let from = 0;
  for (const piece of fragment.split("…")) {
    const at = text.indexOf(piece, from);
    if (at < 0) return false;
    from = at + piece.length;
  }
  return true;
}

const CODE_BY_GO_NAME = new Map(
  Object.values(status)
    .filter((c): c is number => typeof c === "number")
    .map((c) => [goCodeName(c), c]),
);

const hasTools = toolAvailable(
  ["jq", "curl"].every((tool) => {
    try {
      execFileSync(tool, ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  }),
  "jq and curl (the documented commands use them)",
  "jq curl",
);

describe("the commands in the README and docs/", () => {
  it("leave no grpcurl command in a block the tests cannot run (but those for a cluster)", () => {
    const stranded = DOCUMENTS.flatMap((doc) =>
      shellBlocks(readFileSync(join(root, doc), "utf8"))
        .filter((block) => commandsOf(block).some((c) => MENTIONS_GRPCURL.test(c.command)))
        // Blocks that talk to a Kubernetes cluster (docs/SCALING.md) need one.
        .filter((block) => !block.some((line) => /\bkubectl\b/.test(line)))
        .filter((block) => !commandsOf(block).every((c) => RUNNABLE.test(c.command)))
        .map((block) => `${doc}: ${block.join("\n")}`),
    );

    expect(stranded).toEqual([]);
  });

  it("link only to files and headings that exist", () => {
    const slug = (heading: string): string =>
      heading
        .toLowerCase()
        .replace(/[^\w\- ]/g, "")
        .replace(/ /g, "-");
    const headingsOf = (doc: string): string[] =>
      [...readFileSync(join(root, doc), "utf8").matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]));
    const broken = DOCUMENTS.flatMap((doc) => {
      const dir = doc.includes("/") ? doc.slice(0, doc.lastIndexOf("/")) : ".";
      const text = readFileSync(join(root, doc), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
      return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1])
        .filter((target) => !/^[a-z]+:/.test(target))
        .filter((target) => {
          const [file, anchor] = target.split("#");
          const path = file === "" ? doc : join(dir, file);
          try {
            readFileSync(join(root, path));
          } catch {
            return true;
          }
          return anchor !== undefined && path.endsWith(".md") && !headingsOf(path).includes(anchor);
        })
        .map((target) => `${doc}: ${target}`);
    });

    expect(broken).toEqual([]);
  });
});

(hasTools ? describe : describe.skip)("the commands in the README and docs/, run", () => {
  jest.setTimeout(300_000);
  let dataDir: string;
  let run: StartAll;
  const address = new Map<string, string>();

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "mesh-docs-"));
    const ports = await freeInstancePorts(NAMES.length, 100);
    const gateway = await freeGatewayEnv();
    const env: NodeJS.ProcessEnv = {
      MESH_DATA_DIR: dataDir,
      ...gateway,
      INIT_CWD: root,
    };
    NAMES.forEach((name, i) => (env[`${name.toUpperCase()}_PORT`] = String(ports[i])));
    // The documents' addresses (mesh.yaml's) → this run's.
    const documented = loadTopology({});
    const actual = loadTopology({ ...process.env, ...env });
    for (const name of NAMES) {
      documented.services[name].instances.forEach((instance, i) =>
        address.set(instance.listen, actual.services[name].instances[i].listen),
      );
    }
    // The gateway's public listener and its admin listener (operators), by either name.
    for (const host of ["localhost", "127.0.0.1"]) {
      address.set(`${host}:8080`, `${host}:${gateway.GATEWAY_PORT}`);
      address.set(`${host}:9080`, `${host}:${gateway.GATEWAY_ADMIN_PORT}`);
      address.set(`${host}:8081`, `${host}:${gateway.SUPERVISOR_PORT}`);
    }
    run = startAll(root, env);
    await run.waitFor("Press Ctrl-C", STARTUP_MS);
  });
  afterAll(async () => {
    run.child.kill("SIGINT");
    await run.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  const rewrite = (command: string): string =>
    command
      .replace(/(127\.0\.0\.1|localhost):\d+/g, (found) => address.get(found) ?? found)
      .replace(/(^|[\s'"=])data\/pki\//g, `$1${dataDir}/pki/`);

  const withCommands = DOCUMENTS.filter((doc) => runnableCommands(doc).length > 0);
  it.each(withCommands)(
    "%s: every command runs, and prints what the document says",
    async (doc) => {
      const commands = runnableCommands(doc);
      const out = mkdtempSync(join(tmpdir(), "docs-out-"));
      try {
        const script = [
          "set -o pipefail",
          `grpcurl() { ${JSON.stringify(process.execPath)} ${JSON.stringify(GRPC_SCRIPT)} "$@"; }`,
          ...commands.map(
            (c, i) =>
              `{\n${rewrite(c.command)}\n} >"${out}/${i}.out" 2>"${out}/${i}.err"; echo $? >"${out}/${i}.code"`,
          ),
        ].join("\n");
        const shell = await runProgram("bash", ["-c", script], { timeoutMs: 240_000 });
        expect(shell.stderr).toBe("");

        const wrong = commands.flatMap((c, i) => {
          const read = (ext: string): string => readFileSync(join(out, `${i}.${ext}`), "utf8");
          const [stdout, stderr, code] = [read("out"), read("err"), Number(read("code"))];
          const codeLine = c.expected.find((e) => e.startsWith("Code: "));
          const wanted = codeLine
            ? CODE_BY_GO_NAME.get(codeLine.slice("Code: ".length))
            : undefined;
          const problems: string[] = [];
          if (codeLine && wanted === undefined) problems.push(`unknown code in "${codeLine}"`);
          if (wanted !== undefined) {
            if (code !== 64 + wanted || printedStatus(stderr)?.code !== goCodeName(wanted))
              problems.push(`expected ${codeLine}, exit ${64 + wanted}; got exit ${code}`);
          } else if (code !== 0 || stderr !== "") problems.push(`exit ${code}`);
          for (const fragment of c.expected)
            if (!contains(stdout + stderr, fragment))
              problems.push(`no "${fragment}" in the output`);
          return problems.length > 0 ? [{ command: c.command, problems, stdout, stderr }] : [];
        });

        expect(wrong).toEqual([]);
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  );
});
