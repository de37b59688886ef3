import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { DockerfileParser, type Copy } from "dockerfile-ast";
import { parse as parseYaml } from "yaml";
import { projectRoot } from "../../mesh/config";
import { readFlags } from "../cli";
import { contextFiles } from "./dockerignore";

/** Services that are not in mesh.yaml but get an image too (HTTP only). */
export const EXTRA_IMAGES = ["gateway"];

/**
 * What a RUN of the build stage produces (npm ci, npm run build), so that a runtime
 * `COPY --from=build` of them is known to have a source. Anything else must come from the
 * context.
 */
const BUILD_OUTPUTS = ["node_modules", "dist"];

/** One COPY line. */
interface CopyStep {
  line: number;
  from?: string;
  sources: string[];
}

/** One FROM … AS stage and what the checks need from it. */
interface Stage {
  name: string;
  workdir: string;
  copies: CopyStep[];
  user?: string;
  /** Context paths copied into this stage, as absolute paths inside the image. */
  copiedIn: Map<string, string>;
}

/** The Dockerfile as far as the checks are concerned. */
export interface DockerfileModel {
  stages: Stage[];
  hasHealthcheck: boolean;
}

const ROOT_USERS = new Set(["root", "0", "0:0", "root:root"]);

/** Reads the Dockerfile into stages, copies and users. */
export function readDockerfile(text: string): DockerfileModel {
  const dockerfile = DockerfileParser.parse(text);
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArguments().map((a) => a.getValue());
    const line = instruction.getRange().start.line + 1;
    if (keyword === "FROM") {
      const name = (instruction as unknown as { getBuildStage(): string | null }).getBuildStage();
      stages.push({
        name: name ?? String(stages.length),
        workdir: "/",
        copies: [],
        copiedIn: new Map(),
      });
      continue;
    }
    const stage = stages.at(-1);
    // Only ARG may come before the first FROM (the base image's arguments).
    if (!stage) {
      if (keyword === "ARG") continue;
      throw new Error(`Dockerfile:${line}: ${keyword} before any FROM`);
    }
    if (keyword === "WORKDIR") stage.workdir = posix.resolve(stage.workdir, args[0]);
    if (keyword === "USER") stage.user = args[0];
    if (keyword === "COPY" || keyword === "ADD") {
      const from = (instruction as Copy).getFromFlag?.()?.getValue() ?? undefined;
      const sources = args.slice(0, -1);
      const dest = posix.resolve(stage.workdir, args.at(-1) ?? ".");
      stage.copies.push({ line, from, sources });
      if (!from) {
        for (const source of sources) {
          const target =
            dest.endsWith("/") || sources.length > 1 || args.at(-1)?.endsWith("/")
              ? posix.join(dest, posix.basename(source))
              : dest;
          stage.copiedIn.set(target, source);
        }
      }
    }
  }
  return { stages, hasHealthcheck: dockerfile.getHEALTHCHECKs().length > 0 };
}

/** Whether `source` (a file or a folder) is in the context. */
const inContext = (files: ReadonlySet<string>, source: string): boolean =>
  files.has(source) || [...files].some((file) => file.startsWith(`${source}/`));

/** Where an absolute path of a stage came from: a context path, a build output, or nothing. */
function originIn(stage: Stage, files: ReadonlySet<string>, path: string): boolean {
  const relative = posix.relative(stage.workdir, path);
  if (BUILD_OUTPUTS.some((out) => relative === out || relative.startsWith(`${out}/`))) return true;
  for (const [target, source] of stage.copiedIn) {
    if (path === target) return inContext(files, source);
    if (path.startsWith(`${target}/`))
      return inContext(files, posix.join(source, path.slice(target.length + 1)));
  }
  return false;
}

/** What the image check found. */
export interface ImageCheck {
  /** The build context, honouring .dockerignore. */
  files: string[];
  /** Every way the Dockerfile would fail or break the rules; empty when it is fine. */
  problems: string[];
}

/**
 * Checks the Dockerfile against the context at `root` without a Docker engine: every COPY
 * source exists (context paths honour .dockerignore; `--from` paths were copied in or built in
 * that stage), the final stage runs as a non-root user, and every service of mesh.yaml and
 * {@link EXTRA_IMAGES} has a main.ts in the context, which the build turns into the
 * dist/services/<name>/main.js that SERVICE picks.
 */
export function checkImage(root: string = projectRoot()): ImageCheck {
  const model = readDockerfile(readFileSync(join(root, "Dockerfile"), "utf8"));
  const files = contextFiles(root);
  const fileSet = new Set(files);
  const problems: string[] = [];
  const stages = new Map<string, Stage>();
  for (const stage of model.stages) {
    for (const copy of stage.copies) {
      const from = copy.from === undefined ? undefined : stages.get(copy.from);
      if (copy.from !== undefined && !from) {
        problems.push(`Dockerfile:${copy.line}: --from=${copy.from} names no earlier stage`);
        continue;
      }
      for (const source of copy.sources) {
        const found = from ? originIn(from, fileSet, source) : inContext(fileSet, source);
        if (!found) {
          problems.push(
            from
              ? `Dockerfile:${copy.line}: ${source} is neither copied into nor built in stage ${from.name}`
              : `Dockerfile:${copy.line}: ${source} is not in the build context (see .dockerignore)`,
          );
        }
      }
    }
    stages.set(stage.name, stage);
  }
  const final = model.stages.at(-1);
  if (!final?.user || ROOT_USERS.has(final.user)) {
    problems.push(
      `Dockerfile: the final stage must set USER to a non-root user, got ${final?.user ?? "none"}`,
    );
  } else if (!/^\d+(:\d+)?$/.test(final.user)) {
    problems.push(
      `Dockerfile: USER ${final.user} should be numeric, so runAsNonRoot can verify it`,
    );
  }
  const topology = parseYaml(readFileSync(join(root, "mesh.yaml"), "utf8")) as {
    services: Record<string, unknown>;
  };
  for (const name of [...Object.keys(topology.services), ...EXTRA_IMAGES]) {
    if (!fileSet.has(`services/${name}/main.ts`)) {
      problems.push(`image SERVICE=${name}: services/${name}/main.ts is not in the build context`);
    }
  }
  return { files, problems };
}

const SCRIPT = {
  name: "image:context",
  usage: `usage: npm run image:context

Checks the Dockerfile against its build context without a Docker engine (see checkImage in
scripts/deploy/image-context.ts) and exits 1 naming each problem.

  -h, --help          show this and exit`,
  options: {},
} as const;

if (require.main === module) {
  readFlags(SCRIPT);
  const { files, problems } = checkImage();
  console.log(`image context: ${files.length} files`);
  for (const problem of problems) console.error(`  ${problem}`);
  process.exit(problems.length > 0 ? 1 : 0);
}
