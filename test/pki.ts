import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
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

/** A certificate and key made by {@link issueCertificate}. */
export interface IssuedCertificate {
  cert: string;
  key: string;
  ca: string;
}

/**
 * A leaf certificate signed by the mesh CA of `security` (its real `ca.key`), whose
 * subjectAltName is exactly `sans`: openssl's `[alt_names]` lines such as `URI.1 = spiffe://…`
 * or `email.1 = "URI:spiffe://…"`, so that tests can craft what the mesh must refuse.
 */
export function issueCertificate(
  security: SecurityConfig,
  name: string,
  sans: string[],
): IssuedCertificate {
  const dir = security.pkiDir;
  const cert = join(dir, `crafted-${name}.crt`);
  const key = join(dir, `crafted-${name}.key`);
  const config = join(dir, `crafted-${name}.cnf`);
  writeFileSync(
    config,
    [
      "[ext]",
      "basicConstraints = critical,CA:FALSE",
      "keyUsage = critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage = serverAuth,clientAuth",
      "subjectAltName = @alt_names",
      "[alt_names]",
      ...sans,
    ].join("\n"),
  );
  const openssl = (args: string[]): void => void execFileSync("openssl", args, { stdio: "pipe" });
  const csr = `${cert}.csr`;
  openssl(
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-keyout",
      key,
      "-out",
      csr,
      "-subj",
      `/O=grpc-shop-mesh/CN=${name}`,
    ]),
  );
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    join(dir, "ca.crt"),
    "-CAkey",
    join(dir, "ca.key"),
    "-set_serial",
    `0x${randomBytes(16).toString("hex")}`,
    "-days",
    "1",
    "-extfile",
    config,
    "-extensions",
    "ext",
    "-out",
    cert,
  ]);
  return { cert, key, ca: join(dir, "ca.crt") };
}
