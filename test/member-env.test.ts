import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../mesh/config";
import { compileCacheDir, memberEnv } from "../scripts/members";

describe("memberEnv: the environment start:all gives its members", () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of [
      "NODE_OPTIONS",
      "NODE_COMPILE_CACHE",
      "MALLOC_ARENA_MAX",
      "MESH_YAML_CACHE",
    ]) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  it("caps malloc arenas, keeps the compile cache under dist/ and a small young generation", () => {
    delete process.env.NODE_OPTIONS;
    delete process.env.NODE_COMPILE_CACHE;
    delete process.env.MALLOC_ARENA_MAX;
    delete process.env.MESH_YAML_CACHE;
    const root = projectRoot();
    expect(memberEnv(root)).toEqual({
      NODE_OPTIONS: "--max-semi-space-size=2",
      NODE_COMPILE_CACHE: compileCacheDir(root),
      MALLOC_ARENA_MAX: "2",
      MESH_YAML_CACHE: join(compileCacheDir(root), "mesh-yaml"),
    });
  });

  it("lets the user's own settings win, and adds to their NODE_OPTIONS", () => {
    process.env.NODE_OPTIONS = "--enable-source-maps";
    process.env.NODE_COMPILE_CACHE = "/tmp/their-cache";
    process.env.MALLOC_ARENA_MAX = "8";
    process.env.MESH_YAML_CACHE = "/tmp/their-yaml";
    expect(memberEnv(projectRoot())).toEqual({
      NODE_OPTIONS: "--enable-source-maps --max-semi-space-size=2",
      NODE_COMPILE_CACHE: "/tmp/their-cache",
      MALLOC_ARENA_MAX: "8",
      MESH_YAML_CACHE: "/tmp/their-yaml",
    });
  });

  it("is an environment Node starts with (NODE_OPTIONS refuses most V8 flags)", () => {
    delete process.env.NODE_OPTIONS;
    const env = { ...process.env, ...memberEnv(projectRoot()) };
    const run = spawnSync(process.execPath, ["-e", "process.stdout.write('started')"], {
      env,
      encoding: "utf8",
    });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("started");
  });
});
