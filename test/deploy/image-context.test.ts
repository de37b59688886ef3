import { execFile, spawn } from "node:child_process";
import {
  cpSync,
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
import { isIgnored, parseDockerignore } from "../../scripts/deploy/dockerignore";
import { checkImage, EXTRA_IMAGES } from "../../scripts/deploy/image-context";
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
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it(
    "the context alone builds, and the runtime stage's files start a service that reports SERVING",
    async () => {
      const dir = fixture({});
      const runtime = mkdtempSync(join(tmpdir(), "image-runtime-"));
      let child: ReturnType<typeof spawn> | undefined;
      try {
        // The build stage: the context plus node_modules (npm ci), then npm run build.
        symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
        const started = Date.now();
        await run(
          process.execPath,
          [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"],
          { cwd: dir },
        );
        console.log(`image build stage: tsc in ${Date.now() - started} ms`);
        // Every image SERVICE can pick: the services of mesh.yaml, and the gateway.
        for (const name of [...shopServices(), ...EXTRA_IMAGES]) {
          expect(readFileSync(join(dir, "dist/services", name, "main.js"), "utf8")).toMatch(
            /runService|runMain/,
          );
        }
        // The runtime stage: exactly its COPY lines, then `node dist/main.js` for SERVICE=users.
        for (const file of [
          "package.json",
          "package-lock.json",
          "mesh.yaml",
          "gen/descriptor-set.binpb",
        ]) {
          mkdirSync(dirname(join(runtime, file)), { recursive: true });
          cpSync(join(dir, file), join(runtime, file));
        }
        cpSync(join(dir, "dist"), join(runtime, "dist"), { recursive: true });
        symlinkSync(join(root, "node_modules"), join(runtime, "node_modules"));
        symlinkSync("services/users/main.js", join(runtime, "dist/main.js"));
        const [port, healthPort] = await freePorts(2);
        const data = join(runtime, "data");
        mkdirSync(data);
        child = spawn(process.execPath, ["dist/main.js"], {
          cwd: runtime,
          env: {
            PATH: process.env.PATH,
            NODE_ENV: "production",
            MESH_HOST: "127.0.0.1",
            MESH_DATA_DIR: data,
            USERS_PORT: String(port),
            MESH_HEALTH_PORT: String(healthPort),
            // No certificate is mounted here (Kubernetes mounts one at MESH_CERTS_DIR).
            MESH_PLAINTEXT: "1",
          },
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.on("exit", (code) => code && console.error(`users exited ${code}: ${stderr}`));
        expect(await waitServing(healthPort)).toBe(ServingStatus.SERVING);
      } finally {
        child?.kill("SIGTERM");
        rmSync(dir, { recursive: true, force: true });
        rmSync(runtime, { recursive: true, force: true });
      }
    },
    BUILD_TIMEOUT_MS,
  );
});

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
