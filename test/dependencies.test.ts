import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../mesh/config";

/**
 * Every package in package.json earns its place: a dependency is imported by code that runs
 * outside the tests (or, like Chart.js for the dashboard, read from node_modules by path); a devDependency is imported anywhere (tests, configs, scripts) or is a
 * command the project runs (its `bin` named in a package.json script, a script or a config);
 * an `@types/x` package types a dependency `x` or a tsconfig `types` entry.
 */
const root = projectRoot();
const read = (path: string): string => readFileSync(join(root, path), "utf8");
const manifest = JSON.parse(read("package.json")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scripts: Record<string, string>;
};

/** Source files under `dir` (.ts, .mjs, .js), skipping dependencies and build output. */
function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs|js)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .filter((path) => !/\/(node_modules|dist)\//.test(path));
}

const CODE_DIRS = ["mesh", "services", "scripts", "bench", "gen"];
const files = [...CODE_DIRS, "test"].flatMap(sources);
const isTest = (path: string): boolean =>
  path.endsWith(".test.ts") || path.startsWith(join(root, "test"));
const text = new Map(files.map((path) => [path, readFileSync(path, "utf8")]));
const configs = ["eslint.config.mjs", "jest.config.ts", "buf.gen.yaml", ".ci/run"].map(read);

/** Files that import `name`, or read a file of it by path (a script served as is). */
const importsOf = (name: string): string[] => {
  const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const imported = new RegExp(`(from |import\\(|require\\()"${escaped}(/[^"]*)?"`);
  const readByPath = new RegExp(`"node_modules", "${escaped}"`);
  return files.filter(
    (path) => imported.test(text.get(path) ?? "") || readByPath.test(text.get(path) ?? ""),
  );
};

const binsOf = (name: string): string[] => {
  const { bin } = JSON.parse(read(join("node_modules", name, "package.json"))) as {
    bin?: string | Record<string, string>;
  };
  if (bin === undefined) return [];
  return typeof bin === "string" ? [name.split("/").pop() as string] : Object.keys(bin);
};

const commands = [
  ...Object.values(manifest.scripts),
  ...configs,
  ...files.map((f) => text.get(f)),
].join("\n");
const tsconfigTypes = (
  JSON.parse(read("tsconfig.json")) as { compilerOptions: { types: string[] } }
).compilerOptions.types;

describe("package.json", () => {
  it.each(Object.keys(manifest.dependencies))(
    "dependency %s is imported by code that runs outside the tests",
    (name) => {
      expect(importsOf(name).filter((path) => !isTest(path))).not.toEqual([]);
    },
  );

  it.each(Object.keys(manifest.devDependencies))(
    "devDependency %s is imported, run as a command, or types a package",
    (name) => {
      if (name.startsWith("@types/")) {
        const typed = name.slice("@types/".length);
        const typesSomething = typed in manifest.dependencies || tsconfigTypes.includes(typed);
        expect(typesSomething).toBe(true);
        return;
      }
      const bins = binsOf(name);
      const ranAsCommand = bins.some((bin) =>
        new RegExp(`(^|[\\s/"'])${bin}([\\s"']|$)`, "m").test(commands),
      );
      const imported = importsOf(name).length > 0 || configs.some((c) => c.includes(`"${name}"`));
      expect({ name, imported, ranAsCommand, bins }).toMatchObject(
        imported || ranAsCommand ? {} : { imported: true },
      );
    },
  );
});
