import { isAbsolute, join } from "node:path";
import * as z from "zod";
import type { Descriptors } from "./descriptors";
import { parseDuration } from "./duration";

/** A lowercase name, as services are named: the last segment of a SPIFFE id. */
const identityName = z.string().regex(/^[a-z][a-z0-9-]*$/, {
  message: 'expected a lowercase name such as "gateway"',
});

/** Anyone holding a certificate from the mesh CA (in `security.allow`). */
export const ANY_IDENTITY = "*";

const refresh = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as "5s", got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

/** mesh.yaml `security`: who the mesh's parties are and which of them may call what. */
export const securitySchema = z
  .object({
    // mtls: every connection is mutual TLS and every call is authorized by the caller's
    // certificate. plaintext: no TLS, no identities, so no authorization (loud warning).
    mode: z
      .enum(["mtls", "plaintext"], { message: 'expected "mtls" or "plaintext"' })
      .default("mtls"),
    // The SPIFFE trust domain: identities are spiffe://<trustDomain>/service/<name>.
    trustDomain: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, {
        message: 'expected a lowercase DNS-like name such as "shop.local"',
      })
      .default("shop.local"),
    // Folder of the CA, certificates and keys; relative paths are under dataDir.
    pkiDir: z.string().min(1).default("pki"),
    // A folder holding just this process's own certificate in the Kubernetes TLS-secret layout
    // (tls.crt, tls.key, ca.crt: cert-manager's); used instead of pkiDir when set.
    certificateDir: z.string().min(1).optional(),
    // How often every process re-reads its certificate files (rotation without restart).
    certificateRefresh: refresh.default(5_000 as never),
    // Lifetime of certificates made by start:all; expired ones are made again at start.
    certificateDays: z.number().int().min(1).max(3650).default(30),
    // Callers that serve no gRPC themselves but get a service certificate (the REST gateway).
    clients: z.array(identityName).default([]),
    // spiffe://<trustDomain>/operator/<name>: people with grpcurl; they may call every method.
    operators: z.array(identityName).min(1).default(["admin"]),
    // "package.Service" or "package.Service/Method" → services or clients allowed to call it
    // ("*": any identity of the mesh). Rules add up; anything not allowed is PERMISSION_DENIED.
    allow: z
      .record(
        z.string().regex(/^[A-Za-z_][\w.]*\.[A-Z]\w*(\/[A-Z]\w*)?$/, {
          message: 'expected "package.Service" or "package.Service/Method"',
        }),
        z.array(z.string()),
      )
      .default({}),
  })
  .strict();

/** `security` as parsed, before paths are resolved. */
export type SecurityInput = z.output<typeof securitySchema>;

/** The mesh's security settings, with `pkiDir` absolute; see mesh.yaml `security`. */
export type SecurityConfig = SecurityInput & {
  /** The trust domain's service names: the topology's services and the `clients`. */
  serviceNames: string[];
};

/**
 * Checks what the schema cannot: that every rule names a method in proto/ and callers that
 * exist; and resolves `pkiDir` against `dataDir` under `root`.
 *
 * @returns an error message naming the field, or the resolved config.
 */
export function resolveSecurity(
  security: SecurityInput,
  services: string[],
  dataDir: string,
  root: string,
  descriptors: Descriptors,
): SecurityConfig | string {
  const serviceNames = [...services, ...security.clients];
  for (const [key, callers] of Object.entries(security.allow)) {
    const known = key.includes("/")
      ? descriptors.method(`/${key}`)
      : descriptors.methods(key).length > 0;
    if (!known) return `security.allow: "${key}" names no method in proto/`;
    for (const [i, caller] of callers.entries()) {
      if (caller !== ANY_IDENTITY && !serviceNames.includes(caller)) {
        return (
          `security.allow."${key}".${i}: "${caller}" is neither a service nor one of ` +
          `security.clients (${serviceNames.join(", ")}), nor "${ANY_IDENTITY}"`
        );
      }
    }
  }
  const base = isAbsolute(dataDir) ? dataDir : join(root, dataDir);
  const pkiDir = isAbsolute(security.pkiDir) ? security.pkiDir : join(base, security.pkiDir);
  return { ...security, pkiDir, serviceNames };
}
