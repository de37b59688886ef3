import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate, createPrivateKey } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import type { SecurityConfig } from "../config/security";
import { spiffeId, spiffeIdOfCertificate, type Party } from "./spiffe";

/** Where one party's certificate and key are, and the CA that signed them. */
export interface CertificateFiles {
  /** PEM certificate, `<pkiDir>/<kind>-<name>.crt`. */
  cert: string;
  /** PEM private key (mode 0600), `<pkiDir>/<kind>-<name>.key`. */
  key: string;
  /** The mesh CA's certificate, `<pkiDir>/ca.crt`. */
  ca: string;
}

/** The files of `party` under `pkiDir`. */
export function certificateFiles(pkiDir: string, party: Party): CertificateFiles {
  const base = join(pkiDir, `${party.kind}-${party.name}`);
  return { cert: `${base}.crt`, key: `${base}.key`, ca: join(pkiDir, "ca.crt") };
}

/** The files of a Kubernetes TLS secret mounted at `dir` (cert-manager: tls.crt, tls.key, ca.crt). */
export function secretCertificateFiles(dir: string): CertificateFiles {
  return { cert: join(dir, "tls.crt"), key: join(dir, "tls.key"), ca: join(dir, "ca.crt") };
}

/** Every party `security` names: the services and clients, then the operators. */
export function partiesOf(security: SecurityConfig): Party[] {
  return [
    ...security.serviceNames.map((name): Party => ({ kind: "service", name })),
    ...security.operators.map((name): Party => ({ kind: "operator", name })),
  ];
}

/** The first operator: the identity start:all, seeding and the printed grpcurl commands use. */
export function operatorOf(security: SecurityConfig): Party {
  return { kind: "operator", name: security.operators[0] };
}

/** Options for {@link ensurePki}. */
export interface PkiOptions {
  security: SecurityConfig;
  /** Host names or addresses servers are dialled on, put in every certificate's SANs. */
  hosts: string[];
  /** The openssl binary. Defaults to `openssl` on the PATH (Debian package `openssl`). */
  openssl?: string;
  /** When to count a certificate as expired. Defaults to now. */
  now?: Date;
}

// A certificate this close to its end is made again, so that none expires while the mesh runs.
const RENEW_BEFORE_MS = 24 * 3_600_000;
// The CA outlives the certificates it signs.
const CA_LIFETIME_FACTOR = 10;
const CURVE = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * Makes the mesh's local CA and a certificate per party under `security.pkiDir`, with the
 * `openssl` command line. A certificate that is valid (signed by the CA, not about to expire,
 * naming its SPIFFE id, matching its key) is kept; a missing or invalid one is made again,
 * and every one is made again when the CA is. Keys are 0600, the folder 0700. New files
 * replace old ones by rename, so that running processes pick them up whole (rotation).
 *
 * @returns the files it wrote.
 * @throws Error naming the openssl command that failed.
 */
export function ensurePki(options: PkiOptions): string[] {
  const { security } = options;
  const openssl = options.openssl ?? "openssl";
  const now = options.now ?? new Date();
  const dir = security.pkiDir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const run = (args: string[]): void => {
    try {
      execFileSync(openssl, args, { stdio: "pipe" });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message);
      throw new Error(`openssl ${args[0]} failed (is the openssl package installed?): ${stderr}`);
    }
  };
  const written: string[] = [];
  const caFile = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const ca = readCertificate(caFile);
  const caValid = ca !== undefined && existsSync(caKey) && lasts(ca, now);
  if (!caValid) {
    const days = String(security.certificateDays * CA_LIFETIME_FACTOR);
    const subject = `/O=grpc-shop-mesh/CN=${security.trustDomain} mesh CA`;
    replaceFiles([caKey, caFile], ([key, cert]) =>
      run([
        "req",
        "-x509",
        "-new",
        ...CURVE,
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        days,
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      ]),
    );
    written.push(caKey, caFile);
  }
  const caCert = readCertificate(caFile) as X509Certificate;
  const sans = subjectAltNames(options.hosts);
  for (const party of partiesOf(security)) {
    const files = certificateFiles(dir, party);
    const id = spiffeId(security.trustDomain, party);
    if (caValid && leafValid(files, id, caCert, now)) continue;
    const extensions = join(dir, `${party.kind}-${party.name}.ext`);
    writeFileSync(
      extensions,
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        `subjectAltName=URI:${id},${sans}`,
      ].join("\n"),
    );
    try {
      replaceFiles([files.key, files.cert], ([key, cert]) => {
        const csr = `${cert}.csr`;
        run([
          "req",
          "-new",
          ...CURVE,
          "-keyout",
          key,
          "-out",
          csr,
          "-subj",
          `/O=grpc-shop-mesh/CN=${party.name}`,
        ]);
        run([
          "x509",
          "-req",
          "-in",
          csr,
          "-CA",
          caFile,
          "-CAkey",
          caKey,
          "-set_serial",
          `0x${randomBytes(16).toString("hex")}`,
          "-days",
          String(security.certificateDays),
          "-extfile",
          extensions,
          "-out",
          cert,
        ]);
        rmSync(csr);
      });
    } finally {
      rmSync(extensions, { force: true });
    }
    written.push(files.key, files.cert);
  }
  return written;
}

/** `DNS:`/`IP:` entries for the hosts, with localhost and 127.0.0.1 always in. */
function subjectAltNames(hosts: string[]): string {
  const all = [...new Set(["localhost", "127.0.0.1", ...hosts])];
  return all.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
}

/**
 * Writes new files beside `targets` (key first), then renames them into place, so that a
 * reader never sees half a file; keys are 0600.
 */
function replaceFiles(targets: string[], make: (temporary: string[]) => void): void {
  const temporary = targets.map((t) => `${t}.new`);
  make(temporary);
  chmodSync(temporary[0], 0o600);
  temporary.forEach((t, i) => renameSync(t, targets[i]));
}

function readCertificate(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

/** Valid now and for longer than {@link RENEW_BEFORE_MS}. */
function lasts(cert: X509Certificate, now: Date): boolean {
  return (
    new Date(cert.validFrom) <= now &&
    new Date(cert.validTo).getTime() - now.getTime() > RENEW_BEFORE_MS
  );
}

function leafValid(files: CertificateFiles, id: string, ca: X509Certificate, now: Date): boolean {
  const cert = readCertificate(files.cert);
  if (!cert || !lasts(cert, now) || !cert.verify(ca.publicKey)) return false;
  if (spiffeIdOfCertificate(cert) !== id) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(readFileSync(files.key)));
  } catch {
    return false;
  }
}
