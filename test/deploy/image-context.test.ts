import { execFile, spawn, type ChildProcess } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import {
  HealthClient,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../gen/grpc/health/v1/health";
import { projectRoot } from "../../mesh/config";
import { staticFiles } from "../../services/gateway/static-files";
import { isIgnored, parseDockerignore } from "../../scripts/deploy/dockerignore";
import { checkImage, EXTRA_IMAGES } from "../../scripts/deploy/image-context";
import {
  declaredDependencies,
  entryOf,
  requireGraph,
  runtimeFiles,
} from "../../scripts/deploy/runtime-files";
import { layOutRuntimeStage } from "../../scripts/deploy/runtime-stage";
import { shopServices } from "../../scripts/members";
import { freePorts } from "../../scripts/ports";

const run = promisify(execFile);
const root = projectRoot();
const BUILD_TIMEOUT_MS = 240_000;
const HEALTH_TIMEOUT_MS = 30_000;

/** A copy of the project's Dockerfile inputs in a temp folder, with one file replaced. */
function fixture(replace: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "image-context-"));
  for (const file of checkImage().files.concat(["Dockerfile", ".dockerignore"])) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(root, file), join(dir, file));
  }
  for (const [file, text] of Object.entries(replace)) writeFileSync(join(dir, file), text);
  return dir;
}

describe(".dockerignore as Docker reads it", () => {
  const rules = parseDockerignore(readFileSync(join(root, ".dockerignore"), "utf8"));

  it.each([
    ["mesh/server.ts", false],
    ["mesh/server.test.ts", true],
    ["services/orders/saga.ts", false],
    ["node_modules/yaml/package.json", true],
    ["dist/mesh/server.js", true],
    ["data/orders.sqlite", true],
    ["test/shop.ts", true],
    ["scripts/deploy/image-context.ts", true],
    ["deploy/k8s/base/kustomization.yaml", true],
  ])("%s is ignored: %s", (path, ignored) => {
    expect(isIgnored(rules, path)).toBe(ignored);
  });
});

describe("Dockerfile, checked without a Docker engine", () => {
  it("copies only what exists, runs as non-root and has a main.ts for every service", () => {
    expect(checkImage().problems).toEqual([]);
    expect(EXTRA_IMAGES).toEqual(["gateway"]);
  });

  it("reports a missing COPY source, a root USER and a service of mesh.yaml with no main.ts", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8")
      .replace("COPY mesh.yaml ./", "COPY mesh.yml ./")
      .replace("USER 10001:10001", "USER root");
    const topology = readFileSync(join(root, "mesh.yaml"), "utf8").replace(
      "services:\n",
      "services:\n  shipping:\n    port: 50056\n",
    );
    const dir = fixture({ Dockerfile: dockerfile, "mesh.yaml": topology });
    try {
      const { problems } = checkImage(dir);
      expect(problems).toEqual([
        expect.stringMatching(/mesh\.yml is not in the build context/),
        expect.stringMatching(/must set USER to a non-root user, got root/),
        expect.stringMatching(/SERVICE=shipping: services\/shipping\/main\.ts is not in the build/),
        "Dockerfile: the runtime stage has no mesh.yaml: loadTopology() without MESH_TOPOLOGY, " +
          "and the faults watcher (mesh/config/topology.ts)",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a build output the runtime copies but the build stage never makes", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8").replace(
      "COPY --from=build /app/gen/descriptor-set.binpb",
      "COPY --from=build /app/proto/descriptor-set.binpb",
    );
    const dir = fixture({ Dockerfile: dockerfile });
    try {
      expect(checkImage(dir).problems).toEqual([
        expect.stringMatching(
          /\/app\/proto\/descriptor-set\.binpb is neither copied into nor built/,
        ),
        "Dockerfile: the runtime stage has no gen/descriptor-set.binpb: reflection, policies " +
          "and the OpenAPI document (mesh/config/descriptors.ts)",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports a runtime stage without the compiled addon, and a build stage that cannot compile it", () => {
    const withoutAddon = readFileSync(join(root, "Dockerfile"), "utf8").replace(
      /^COPY --from=build \/app\/native\/.*$/m,
      "",
    );
    const missing =
      "Dockerfile: the runtime stage has no native/build/Release/malloc_trim.node: idle " +
      "members hand freed memory back (mesh/process/malloc-trim.ts)";
    const withoutSource = readFileSync(join(root, "Dockerfile"), "utf8").replace(
      /^COPY native \.\/native$/m,
      "",
    );
    for (const [dockerfile, expected] of [
      [withoutAddon, [missing]],
      [
        withoutSource,
        [
          expect.stringMatching(/\/app\/native\/build\/Release\/malloc_trim\.node is neither/),
          missing,
        ],
      ],
    ] as const) {
      const dir = fixture({ Dockerfile: dockerfile });
      try {
        expect(checkImage(dir).problems).toEqual(expected);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  it("reports each file the code reads at run time that the runtime stage lacks", () => {
    const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8").replace(
      /^COPY services\/gateway\/dashboard\/public .*$/m,
      "",
    );
    const dir = fixture({ Dockerfile: dockerfile });
    try {
      expect(checkImage(dir).problems).toEqual(
        [
          ["index.html", "/"],
          ["app.js", "/dashboard/app.js"],
          ["style.css", "/dashboard/style.css"],
        ].map(
          ([file, url]) =>
            `Dockerfile: the runtime stage has no services/gateway/dashboard/public/${file}: ` +
            `the gateway serves it at ${url} (services/gateway/static-files.ts)`,
        ),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("what the code reads at run time", () => {
  const images = [...EXTRA_IMAGES, "users", "orders"];

  it("is derived from the code: the topology, the descriptor set, the dashboard and each entry", () => {
    const paths = runtimeFiles(images).map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "package.json",
        "mesh.yaml",
        "gen/descriptor-set.binpb",
        "native/build/Release/malloc_trim.node",
        "services/gateway/dashboard/public/index.html",
        "node_modules/chart.js/dist/chart.umd.js",
        "dist/services/gateway/main.js",
        "dist/services/orders/main.js",
      ]),
    );
    // Each is a file of the project as it is checked out (dist/ once built, native/ once
    // npm install compiled it).
    for (const path of paths.filter((p) => !p.startsWith("dist/")))
      expect(existsSync(join(root, path))).toBe(true);
  });
});

describe("the image, built from its context without a Docker engine", () => {
  let dir: string;
  let runtime: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // The build stage: the context plus node_modules and native/build (npm ci), then npm run
    // build.
    dir = fixture({});
    symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
    cpSync(join(root, "native/build"), join(dir, "native/build"), { recursive: true });
    const started = Date.now();
    await run(
      process.execPath,
      [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
      { cwd: dir },
    );
    console.log(`image build stage: tsc in ${Date.now() - started} ms`);
    // The runtime stage: its COPY lines, run against the context and the build stage.
    runtime = mkdtempSync(join(tmpdir(), "image-runtime-"));
    layOutRuntimeStage({ context: dir, build: dir }, runtime);
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all(children.map(stopChild));
    rmSync(dir, { recursive: true, force: true });
    rmSync(runtime, { recursive: true, force: true });
  });

  /** `node <script>` in the runtime folder, as the image's CMD runs it. */
  function startInImage(script: string, env: NodeJS.ProcessEnv): ChildProcess {
    const data = mkdtempSync(join(runtime, "data-"));
    const child = spawn(process.execPath, [script], {
      cwd: runtime,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: "production",
        MESH_HOST: "127.0.0.1",
        MESH_DATA_DIR: data,
        // No certificate is mounted here (Kubernetes mounts one at MESH_CERTS_DIR).
        MESH_PLAINTEXT: "1",
        ...env,
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => code && console.error(`${script} exited ${code}: ${stderr}`));
    children.push(child);
    return child;
  }

  it("compiles an entry for every image SERVICE can pick: mesh.yaml's services and the gateway", () => {
    for (const name of [...shopServices(), ...EXTRA_IMAGES]) {
      expect(readFileSync(join(runtime, "dist/services", name, "main.js"), "utf8")).toMatch(
        /runService|runMain/,
      );
    }
  });

  it("holds the malloc_trim addon npm ci compiled, and it loads there", async () => {
    const { stdout } = await run(
      process.execPath,
      ["-e", `console.log(typeof require("./native/build/Release/malloc_trim.node").trim())`],
      { cwd: runtime },
    );
    expect(stdout.trim()).toBe("boolean");
  });

  it("holds every module the entries require, and needs no dev dependency", () => {
    expect(checkImage(dir).problems).toEqual([]);
    const entries = [...shopServices(), ...EXTRA_IMAGES].map(entryOf);
    const graph = requireGraph(runtime, entries);
    expect(graph.unresolved).toEqual([]);
    expect(graph.files).toEqual(
      expect.arrayContaining([
        "dist/services/orders/migrations/index.js",
        "dist/services/gateway/static-files.js",
      ]),
    );
    // What `npm prune --omit=dev` keeps is all the code may require by name.
    expect(graph.packages.filter((name) => !declaredDependencies(root).includes(name))).toEqual([]);
    expect(graph.packages).toEqual(expect.arrayContaining(["@grpc/grpc-js", "knex", "sqlite3"]));
  });

  it(
    "starts users from the runtime stage's files (dist/main.js), and it reports SERVING",
    async () => {
      symlinkSync("services/users/main.js", join(runtime, "dist/main.js"));
      const [port, healthPort] = await freePorts(2);
      startInImage("dist/main.js", {
        USERS_PORT: String(port),
        MESH_HEALTH_PORT: String(healthPort),
      });
      expect(await waitServing(healthPort)).toBe(ServingStatus.SERVING);
    },
    HEALTH_TIMEOUT_MS + 5_000,
  );

  it(
    "starts the gateway from the runtime stage's files, and it serves the dashboard on its admin port and /openapi.json on its API port",
    async () => {
      const [port, adminPort] = await freePorts(2);
      startInImage(entryOf("gateway"), {
        GATEWAY_PORT: String(port),
        GATEWAY_ADMIN_PORT: String(adminPort),
      });
      const url = `http://127.0.0.1:${port}`;
      // The dashboard's page and its files are on the admin listener (plaintext here).
      const admin = `http://127.0.0.1:${adminPort}`;
      const page = await fetchWhenUp(`${admin}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await page.text()).toBe(
        readFileSync(join(root, "services/gateway/dashboard/public/index.html"), "utf8"),
      );
      for (const [path, file] of staticFiles(root)) {
        const answer = await fetch(`${admin}${path}`);
        expect({ path, status: answer.status }).toEqual({ path, status: 200 });
        expect(Buffer.from(await answer.arrayBuffer()).equals(readFileSync(file.path))).toBe(true);
      }
      const openapi = await fetchWhenUp(`${url}/openapi.json`);
      expect(openapi.status).toBe(200);
      const doc = (await openapi.json()) as { openapi: string; paths: Record<string, unknown> };
      expect(doc.openapi).toBe("3.1.0");
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/api/products"]));
    },
    HEALTH_TIMEOUT_MS + 5_000,
  );
});

/** GET `url`, retried every 200 ms while nothing listens yet, until the timeout. */
async function fetchWhenUp(url: string): Promise<Response> {
  const until = Date.now() + HEALTH_TIMEOUT_MS;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** SIGTERM, and resolves once the process has exited. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

/** Asks health on the plaintext health port every 200 ms until it answers, or the timeout. */
async function waitServing(port: number): Promise<ServingStatus> {
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const check = (): Promise<ServingStatus> =>
    new Promise((resolve, reject) =>
      client.check({ service: "" }, new Metadata(), { deadline: Date.now() + 1_000 }, (err, res) =>
        err ? reject(err) : resolve(res.status),
      ),
    );
  const until = Date.now() + HEALTH_TIMEOUT_MS;
  try {
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (Date.now() > until) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } finally {
    client.close();
  }
}
