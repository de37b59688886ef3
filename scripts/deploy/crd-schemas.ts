import * as z from "zod";

/**
 * Strict schemas for the custom resources whose JSON schemas are not on npm for Node 20
 * (cert-manager, Linkerd, Gateway API's GRPCRoute): only the fields this project sets, written
 * from each project's CRD reference, and `.strict()` so a misspelt field fails. Istio's come
 * from @kubernetes-models/istio instead.
 */
const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a DNS-1123 name");
const duration = z.string().regex(/^\d+(ms|s|m|h)$/, "expected a duration such as 250ms or 2s");
const labels = z.record(z.string(), z.string());
const metadata = z
  .object({
    name,
    namespace: name.optional(),
    labels: labels.optional(),
    annotations: labels.optional(),
  })
  .strict();
const object = <K extends string, S extends z.ZodTypeAny>(
  apiVersion: string,
  kind: K,
  spec: S,
  meta: z.ZodTypeAny = metadata,
) =>
  z
    .object({ apiVersion: z.literal(apiVersion), kind: z.literal(kind), metadata: meta, spec })
    .strict();

const GRPC_RETRY_CONDITION =
  "(cancelled|deadline-exceeded|internal|resource-exhausted|unavailable)";
/** The annotations Linkerd 2.16+ reads on a route for its timeout and retries. */
const routeMetadata = metadata.extend({
  annotations: z
    .object({
      "timeout.linkerd.io/request": duration.optional(),
      "retry.linkerd.io/grpc": z
        .string()
        .regex(new RegExp(`^${GRPC_RETRY_CONDITION}(,${GRPC_RETRY_CONDITION})*$`))
        .optional(),
      "retry.linkerd.io/limit": z.string().regex(/^\d+$/).optional(),
    })
    .strict()
    .optional(),
});

const matchLabels = z.object({ matchLabels: labels }).strict();
const issuerRef = z.object({ name, kind: z.enum(["Issuer", "ClusterIssuer"]) }).strict();
const privateKey = z
  .object({
    algorithm: z.enum(["RSA", "ECDSA", "Ed25519"]),
    size: z.number().int().optional(),
    rotationPolicy: z.enum(["Never", "Always"]).optional(),
  })
  .strict();
const policyRef = (kinds: [string, ...string[]]) =>
  z.object({ group: z.literal("policy.linkerd.io"), kind: z.enum(kinds), name }).strict();

/** apiVersion/kind → schema. */
export const CRD_SCHEMAS: Record<string, z.ZodTypeAny> = {
  "cert-manager.io/v1/Issuer": object(
    "cert-manager.io/v1",
    "Issuer",
    z.union([
      z.object({ selfSigned: z.object({}).strict() }).strict(),
      z.object({ ca: z.object({ secretName: name }).strict() }).strict(),
    ]),
  ),
  "cert-manager.io/v1/Certificate": object(
    "cert-manager.io/v1",
    "Certificate",
    z
      .object({
        secretName: name,
        issuerRef,
        isCA: z.boolean().optional(),
        commonName: z.string().max(64).optional(),
        duration: duration.optional(),
        renewBefore: duration.optional(),
        privateKey: privateKey.optional(),
        usages: z
          .array(z.enum(["server auth", "client auth", "digital signature", "key encipherment"]))
          .optional(),
        uris: z.array(z.string().regex(/^spiffe:\/\/[^/]+\/ns\/[^/]+\/sa\/[^/]+$/)).optional(),
        dnsNames: z.array(z.string()).optional(),
      })
      .strict(),
  ),
  "policy.linkerd.io/v1beta2/Server": object(
    "policy.linkerd.io/v1beta2",
    "Server",
    z
      .object({
        podSelector: matchLabels,
        port: z.union([name, z.number().int().min(1).max(65535)]),
        proxyProtocol: z.enum(["unknown", "HTTP/1", "HTTP/2", "gRPC", "opaque", "TLS"]),
      })
      .strict(),
  ),
  "policy.linkerd.io/v1beta3/HTTPRoute": object(
    "policy.linkerd.io/v1beta3",
    "HTTPRoute",
    z
      .object({
        parentRefs: z.array(policyRef(["Server"])).min(1),
        rules: z.array(
          z
            .object({
              matches: z
                .array(
                  z
                    .object({
                      path: z
                        .object({
                          type: z.enum(["Exact", "PathPrefix", "RegularExpression"]),
                          value: z.string().startsWith("/"),
                        })
                        .strict(),
                      method: z
                        .enum(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
                        .optional(),
                    })
                    .strict(),
                )
                .max(64, "Gateway API allows at most 64 matches per rule"),
            })
            .strict(),
        ),
      })
      .strict(),
  ),
  "policy.linkerd.io/v1alpha1/MeshTLSAuthentication": object(
    "policy.linkerd.io/v1alpha1",
    "MeshTLSAuthentication",
    z
      .object({
        identityRefs: z
          .array(
            z
              .object({ kind: z.literal("ServiceAccount"), name, namespace: name.optional() })
              .strict(),
          )
          .min(1),
      })
      .strict(),
  ),
  "policy.linkerd.io/v1alpha1/NetworkAuthentication": object(
    "policy.linkerd.io/v1alpha1",
    "NetworkAuthentication",
    z.object({ networks: z.array(z.object({ cidr: z.string() }).strict()).min(1) }).strict(),
  ),
  "policy.linkerd.io/v1alpha1/AuthorizationPolicy": object(
    "policy.linkerd.io/v1alpha1",
    "AuthorizationPolicy",
    z
      .object({
        targetRef: policyRef(["Server", "HTTPRoute"]),
        requiredAuthenticationRefs: z
          .array(policyRef(["MeshTLSAuthentication", "NetworkAuthentication"]))
          .min(1),
      })
      .strict(),
  ),
  "gateway.networking.k8s.io/v1/GRPCRoute": object(
    "gateway.networking.k8s.io/v1",
    "GRPCRoute",
    z
      .object({
        parentRefs: z
          .array(
            z
              .object({
                group: z.literal("core"),
                kind: z.literal("Service"),
                name,
                port: z.number().int(),
              })
              .strict(),
          )
          .min(1),
        rules: z.array(
          z
            .object({
              matches: z.array(
                z
                  .object({
                    method: z
                      .object({
                        type: z.literal("Exact"),
                        service: z.string().regex(/^[A-Za-z_][\w.]*$/),
                        method: z.string().regex(/^[A-Z]\w*$/),
                      })
                      .strict(),
                  })
                  .strict(),
              ),
              backendRefs: z.array(z.object({ name, port: z.number().int() }).strict()),
            })
            .strict(),
        ),
      })
      .strict(),
    routeMetadata,
  ),
};
