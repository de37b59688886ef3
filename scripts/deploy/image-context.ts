import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { DockerfileParser, type Copy } from "dockerfile-ast";
import { parse as parseYaml } from "yaml";
import { projectRoot } from "../../mesh/config";
import { readFlags } from "../cli";
import { contextFiles } from "./dockerignore";
import { productionPackages, runtimeFiles } from "./runtime-files";

/** Services that are not in mesh.yaml but get an image too (HTTP only). */
export const EXTRA_IMAGES = ["gateway"];

/**
 * What a RUN of the build stage produces (npm ci, npm run build), so that a runtime
 * `COPY --from=build` of them is known to have a source. Anything else must come from the
 * context.
 */
const BUILD_OUTPUTS = ["node_modules", "dist"];
/** What npm ci's install step compiles from native/binding.gyp (native/build.mjs). */
const NATIVE_BUILD = "build";

/** One COPY line. */
export interface CopyStep {
  line: number;
  /** The stage it copies from (`--from`), or undefined for the build context. */
  from?: string;
  sources: string[];
  /** Absolute path in this stage → the source path it holds (absolute in `from`'s stage). */
  targets: Map<string, string>;
}

/** One FROM … AS stage and what the checks need from it. */
export interface Stage {
  name: string;
  workdir: string;
  copies: CopyStep[];
  user?: string;
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
      const targets = new Map<string, string>();
      for (const source of sources) {
        const target =
          sources.length > 1 || args.at(-1)?.endsWith("/")
            ? posix.join(dest, posix.basename(source))
            : dest;
        // A --from source is a path of that stage's filesystem, from its root.
        targets.set(target, from ? posix.resolve("/", source) : source);
      }
      stage.copies.push({ line, from, sources, targets });
    }
  }
  return { stages, hasHealthcheck: dockerfile.getHEALTHCHECKs().length > 0 };
}

/** Whether `source` (a file or a folder) is in the context. */
const inContext = (files: ReadonlySet<string>, source: string): boolean =>
  files.has(source) || [...files].some((file) => file.startsWith(`${source}/`));

/** What {@link existsIn} looks things up in. */
interface Sources {
  stages: ReadonlyMap<string, Stage>;
  /** The build context, honouring .dockerignore. */
  context: ReadonlySet<string>;
  /** Packages `npm prune --omit=dev` keeps (package-lock.json's non-dev ones). */
  production: ReadonlySet<string>;
}

/**
 * Whether the absolute `path` (a file or a folder) exists in `stage`. The last COPY whose
 * target holds it decides, by its source in the context or in the stage it copies from;
 * otherwise it must be one of the stage's {@link BUILD_OUTPUTS}: `dist/<x>.js` compiled from
 * a `<x>.ts` of that stage or `node_modules/<package>/…` of a production dependency; and
 * `native/build/…` is there whenever the stage has native/binding.gyp (npm ci compiles it).
 */
function existsIn(sources: Sources, stage: Stage, path: string): boolean {
  const [output, ...rest] = posix.relative(stage.workdir, path).split("/");
  // npm ci compiles native/build/… in any stage that has native/binding.gyp, whichever COPY
  // brought native/ there (.dockerignore keeps a local build out of the context).
  if (
    output === "native" &&
    rest[0] === NATIVE_BUILD &&
    existsIn(sources, stage, posix.join(stage.workdir, "native/binding.gyp"))
  )
    return true;
  for (const copy of [...stage.copies].reverse()) {
    for (const [target, source] of copy.targets) {
      if (path !== target && !path.startsWith(`${target}/`)) continue;
      const rest = path.slice(target.length);
      if (copy.from === undefined) return inContext(sources.context, posix.join(source, rest));
      const from = sources.stages.get(copy.from);
      return from !== undefined && existsIn(sources, from, source + rest);
    }
  }
  if (!BUILD_OUTPUTS.includes(output)) return false;
  if (rest.length === 0) return true;
  if (output === "node_modules") {
    const name = rest.slice(0, rest[0].startsWith("@") ? 2 : 1).join("/");
    return sources.production.has(name);
  }
  const compiled = /^(.*)\.js(\.map)?$/.exec(rest.join("/"));
  return (
    compiled !== null && existsIn(sources, stage, posix.join(stage.workdir, `${compiled[1]}.ts`))
  );
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
 * The final stage must also hold every file the code reads at run time (runtimeFiles: the
 * topology, the descriptor set, the dashboard's files, …).
 */
export function checkImage(root: string = projectRoot()): ImageCheck {
  const model = readDockerfile(readFileSync(join(root, "Dockerfile"), "utf8"));
  const files = contextFiles(root);
  const fileSet = new Set(files);
  const problems: string[] = [];
  const stages = new Map<string, Stage>();
  const sources: Sources = {
    stages,
    context: fileSet,
    production: new Set(productionPackages(root)),
  };
  for (const stage of model.stages) {
    for (const copy of stage.copies) {
      const from = copy.from === undefined ? undefined : stages.get(copy.from);
      if (copy.from !== undefined && !from) {
        problems.push(`Dockerfile:${copy.line}: --from=${copy.from} names no earlier stage`);
        continue;
      }
      for (const source of copy.sources) {
        const found = from
          ? existsIn(sources, from, posix.resolve("/", source))
          : inContext(fileSet, source);
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
  const images = [...Object.keys(topology.services), ...EXTRA_IMAGES].filter((name) =>
    fileSet.has(`services/${name}/main.ts`),
  );
  if (final) {
    for (const { path, readBy } of runtimeFiles(images, root)) {
      if (!existsIn(sources, final, posix.join(final.workdir, path)))
        problems.push(`Dockerfile: the runtime stage has no ${path}: ${readBy}`);
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
