import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build, jsonPatch, strategicMerge, type K8sObject } from "../../scripts/deploy/kustomize";

const deployment: K8sObject = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "users" },
  spec: {
    template: {
      spec: {
        containers: [{ name: "users", env: [{ name: "A", value: "1" }], image: "users" }],
        volumes: [{ name: "data", persistentVolumeClaim: { claimName: "users-data" } }],
      },
    },
  },
};

describe("the kustomize subset", () => {
  it("strategic merge: named lists merge by name, null deletes a key, $patch: delete an item", () => {
    const merged = strategicMerge(deployment, {
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: "users",
                env: [
                  { name: "B", value: "2" },
                  { name: "A", $patch: "delete" },
                ],
              },
            ],
            volumes: [{ name: "data", persistentVolumeClaim: null, emptyDir: {} }],
          },
        },
      },
    });
    expect(merged).toEqual({
      ...deployment,
      spec: {
        template: {
          spec: {
            containers: [{ name: "users", env: [{ name: "B", value: "2" }], image: "users" }],
            volumes: [{ name: "data", emptyDir: {} }],
          },
        },
      },
    });
  });

  it("JSON 6902: add appends with -, replace needs the field, paths that do not exist fail", () => {
    const patched = jsonPatch(deployment, [
      { op: "add", path: "/spec/template/spec/containers/0/env/-", value: { name: "C" } },
      { op: "replace", path: "/spec/template/spec/containers/0/image", value: "users:dev" },
    ]) as unknown as {
      spec: { template: { spec: { containers: { env: unknown[]; image: string }[] } } };
    };
    expect(patched.spec.template.spec.containers[0].env).toHaveLength(2);
    expect(patched.spec.template.spec.containers[0].image).toBe("users:dev");
    expect(() =>
      jsonPatch(deployment, [{ op: "replace", path: "/spec/replicas", value: 2 }]),
    ).toThrow("replace /spec/replicas: no such field in Deployment/users");
  });

  it("refuses a kustomization field it does not implement, and a patch that matches nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "kustomize-"));
    try {
      writeFileSync(join(dir, "kustomization.yaml"), "commonLabels: { a: b }\n");
      expect(() => build(dir)).toThrow('"commonLabels" is not supported by this builder');
      writeFileSync(join(dir, "d.yaml"), JSON.stringify(deployment));
      writeFileSync(
        join(dir, "p.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: orders }\n",
      );
      writeFileSync(
        join(dir, "kustomization.yaml"),
        "resources: [d.yaml]\npatches: [{ path: p.yaml }]\n",
      );
      expect(() => build(dir)).toThrow("patches no object (Deployment/orders)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
