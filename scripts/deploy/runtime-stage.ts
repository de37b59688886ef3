import { cpSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname, join, posix } from "node:path";
import { contextFiles } from "./dockerignore";
import { readDockerfile } from "./image-context";
import { productionPackages } from "./runtime-files";

/** Where {@link layOutRuntimeStage} finds what the final stage copies. */
export interface StageInputs {
  /** The build context (with its Dockerfile and .dockerignore). */
  context: string;
  /**
   * The build stage's WORKDIR after its RUN lines: the context's files, `node_modules` and
   * `dist` from `npm run build`.
   */
  build: string;
}

/**
 * Lays the final stage of the Dockerfile out in `out` (its WORKDIR), by running its COPY lines
 * against the folders of `inputs`, so that a test can start a service from exactly the files
 * the image has, without a Docker engine. Context copies honour .dockerignore. A copy of the
 * build stage's `node_modules` holds only what `npm prune --omit=dev` keeps (package-lock's
 * non-dev packages, linked rather than copied), so code that needs a dev dependency fails
 * here as it would in the image.
 */
export function layOutRuntimeStage(inputs: StageInputs, out: string): void {
  const model = readDockerfile(readFileSync(join(inputs.context, "Dockerfile"), "utf8"));
  const final = model.stages.at(-1);
  if (!final) throw new Error("Dockerfile: no stage");
  const context = contextFiles(inputs.context);
  const place = (target: string): string => join(out, posix.relative(final.workdir, target));
  for (const copy of final.copies) {
    const from = model.stages.find((stage) => stage.name === copy.from);
    if (copy.from !== undefined && !from) throw new Error(`Dockerfile:${copy.line}: no stage`);
    for (const [target, source] of copy.targets) {
      mkdirSync(dirname(place(target)), { recursive: true });
      if (from) {
        const path = posix.relative(from.workdir, source);
        if (path.startsWith("..")) throw new Error(`${source} is outside ${from.workdir}`);
        if (path === "node_modules") linkProductionPackages(inputs.build, place(target));
        else cpSync(join(inputs.build, path), place(target), { recursive: true });
        continue;
      }
      for (const file of context.filter((f) => f === source || f.startsWith(`${source}/`))) {
        const into = join(place(target), file.slice(source.length));
        mkdirSync(dirname(into), { recursive: true });
        cpSync(join(inputs.context, file), into);
      }
    }
  }
}

/** `node_modules` after `npm prune --omit=dev`: a link to each production package of `root`. */
function linkProductionPackages(root: string, into: string): void {
  for (const name of productionPackages(root)) {
    mkdirSync(dirname(join(into, name)), { recursive: true });
    symlinkSync(join(root, "node_modules", name), join(into, name));
  }
}
