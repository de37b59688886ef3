import { NAME_LABEL, NAMESPACE, PART_OF, type Workload } from "./cluster";
import { tlsSecret } from "./base-manifests";

/** The cert-manager objects this project writes (cert-manager.io/v1), as far as it sets them. */
export interface CertManagerObject {
  apiVersion: "cert-manager.io/v1";
  kind: "Issuer" | "Certificate";
  metadata: { name: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}

const CA_ISSUER = "mesh-ca";
const CA_SECRET = "mesh-ca";
/** SPIFFE trust domain; the same one Istio and Linkerd use by default. */
export const TRUST_DOMAIN = "cluster.local";
/** Leaf certificates live this long and are renewed a third of the way before the end. */
const LEAF_DURATION = "720h";
const LEAF_RENEW_BEFORE = "240h";

/** A workload's SPIFFE id: the service account it runs as, as Istio spells it. */
export const spiffeId = (name: string): string =>
  `spiffe://${TRUST_DOMAIN}/ns/${NAMESPACE}/sa/${name}`;

/**
 * cert-manager issues every workload a certificate whose URI SAN is its SPIFFE id, into the
 * Secret `<name>-tls` (tls.crt, tls.key, ca.crt) that the Deployment mounts, and renews it.
 * A self-signed bootstrap issuer signs the mesh's CA; the CA issuer signs the leaves. Without
 * cert-manager, create the same Secrets from files (docs/SCALING.md).
 */
export function certificates(all: readonly Workload[]): CertManagerObject[] {
  const labels = (name: string) => ({ [NAME_LABEL]: name, ...PART_OF });
  return [
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Issuer",
      metadata: { name: "mesh-bootstrap", labels: labels("mesh-bootstrap") },
      spec: { selfSigned: {} },
    },
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: CA_SECRET, labels: labels(CA_SECRET) },
      spec: {
        isCA: true,
        commonName: "grpc-shop-mesh CA",
        secretName: CA_SECRET,
        privateKey: { algorithm: "ECDSA", size: 256 },
        issuerRef: { name: "mesh-bootstrap", kind: "Issuer" },
      },
    },
    {
      apiVersion: "cert-manager.io/v1",
      kind: "Issuer",
      metadata: { name: CA_ISSUER, labels: labels(CA_ISSUER) },
      spec: { ca: { secretName: CA_SECRET } },
    },
    ...all.map((w): CertManagerObject => ({
      apiVersion: "cert-manager.io/v1",
      kind: "Certificate",
      metadata: { name: w.name, labels: labels(w.name) },
      spec: {
        secretName: tlsSecret(w.name),
        duration: LEAF_DURATION,
        renewBefore: LEAF_RENEW_BEFORE,
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        usages: ["server auth", "client auth"],
        uris: [spiffeId(w.name)],
        dnsNames: [
          w.name,
          `${w.name}-headless`,
          `${w.name}.${NAMESPACE}.svc.cluster.local`,
          `${w.name}-headless.${NAMESPACE}.svc.cluster.local`,
        ],
        issuerRef: { name: CA_ISSUER, kind: "Issuer" },
      },
    })),
  ];
}
