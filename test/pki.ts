import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTopology } from "../mesh";
import { type SecurityConfig } from "../mesh/config";
import { ensurePki } from "../mesh/identity";
import { toolAvailable } from "./external-tools";

/**
 * Whether the openssl command line is here. In CI a missing openssl fails the run (apt
 * package `openssl`, see .ci/apt-packages.d/security.txt); elsewhere the tests that need it
 * are skipped with that hint.
 */
export function hasOpenssl(): boolean {
  let found = true;
  try {
    execFileSync("openssl", ["version"], { stdio: "pipe" });
  } catch {
    found = false;
  }
  return toolAvailable(found, "openssl", "openssl");
}

/** `describe`, or `describe.skip` when openssl is missing outside CI. */
export const describeWithOpenssl = hasOpenssl() ? describe : describe.skip;

/**
 * The project's `security` settings with the PKI in a fresh temp folder, certificates made
 * (for the topology's services, clients and operators plus `extraClients`).
 */
export function testPki(
  overrides: Partial<SecurityConfig> = {},
  extraClients: string[] = [],
): SecurityConfig {
  const dataDir = mkdtempSync(join(tmpdir(), "mesh-pki-"));
  const base = loadTopology({ MESH_DATA_DIR: dataDir }).security;
  const security: SecurityConfig = {
    ...base,
    ...overrides,
    serviceNames: [...base.serviceNames, ...extraClients],
    pkiDir: overrides.pkiDir ?? join(dataDir, "pki"),
  };
  ensurePki({ security, hosts: ["127.0.0.1"] });
  return security;
}
