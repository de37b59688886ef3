import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import type { ServerOptions as HttpsOptions } from "node:https";
import type { TLSSocket } from "node:tls";
import { status } from "@grpc/grpc-js";
import type { FastifyRequest } from "fastify";
import { type Topology } from "../../mesh";
import {
  certificateFiles,
  secretCertificateFiles,
  spiffeId,
  spiffeIdOfCertificate,
} from "../../mesh/identity";
import { HttpError } from "./http-errors";

/** How the admin listener knows an operator. */
export interface OperatorCheck {
  /** TLS options that ask every client for a certificate of the mesh CA (mTLS mode). */
  readonly https?: HttpsOptions;
  /** The secret an operator sends as `Authorization: Bearer <secret>` (plaintext mode). */
  readonly secret?: string;
  /**
   * Throws 401 (no credentials) or 403 (a party that is no operator, or a cross-site
   * request) unless `request` comes from an operator, from the admin listener's own origin.
   */
  require(request: FastifyRequest): void;
}

/** Bytes of a secret made at start. */
const SECRET_BYTES = 24;

const unauthenticated = (message: string) => new HttpError(status.UNAUTHENTICATED, message);
const denied = (message: string) => new HttpError(status.PERMISSION_DENIED, message);

/**
 * Refuses a request a browser sends on another site's behalf (CSRF): its `Origin`, when there
 * is one, must be the listener's own, and `Sec-Fetch-Site`, when sent, must not be
 * cross-site. Client certificates, like cookies, go with any request a browser makes, so this
 * matters for mTLS operators too; JSON bodies only (415 otherwise) keep simple forms out.
 */
function sameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== `${request.protocol}://${request.host}`) {
    throw denied(`origin ${origin} may not use the admin API`);
  }
  const site = request.headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site")
    throw denied("cross-site requests are refused");
}

/**
 * The operator check of the topology's security mode:
 *
 * - **mTLS**: the admin listener is HTTPS with the gateway's certificate and requires a
 *   client certificate from the mesh CA; only `spiffe://<trustDomain>/operator/<name>` of
 *   `security.operators` may use the admin API (grpcurl's certificate, start:all prints it).
 * - **plaintext**: `secret` (default: made now, printed at start), sent as a bearer token.
 */
export function createOperatorCheck(topology: Topology, secret?: string): OperatorCheck {
  const { security } = topology;
  if (security.mode === "plaintext") {
    const expected = Buffer.from(secret ?? randomBytes(SECRET_BYTES).toString("base64url"));
    return {
      secret: expected.toString(),
      require(request) {
        sameOrigin(request);
        const header = request.headers.authorization ?? "";
        const given = Buffer.from(
          header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "",
        );
        if (given.length === 0)
          throw unauthenticated(
            "the admin API needs the operator's secret: Authorization: Bearer <secret printed at start>",
          );
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          throw unauthenticated("wrong operator secret");
        }
      },
    };
  }
  // Its own certificate, as its gRPC client has it: a mounted secret (Kubernetes) or the PKI's.
  const files = security.certificateDir
    ? secretCertificateFiles(security.certificateDir)
    : certificateFiles(security.pkiDir, { kind: "service", name: "gateway" });
  const operators = new Set(
    security.operators.map((name) => spiffeId(security.trustDomain, { kind: "operator", name })),
  );
  return {
    https: {
      key: readFileSync(files.key),
      cert: readFileSync(files.cert),
      ca: readFileSync(files.ca),
      // The handshake itself refuses a client without a certificate of the mesh CA.
      requestCert: true,
      rejectUnauthorized: true,
    },
    require(request) {
      sameOrigin(request);
      const socket = request.raw.socket as TLSSocket;
      // From the certificate's one URI SAN only (identity/spiffe.ts), never from its text.
      const id = spiffeIdOfCertificate(socket.getPeerCertificate?.());
      if (!id) throw unauthenticated("the admin API needs an operator's client certificate");
      if (!operators.has(id)) throw denied(`${id} is not an operator (security.operators)`);
    },
  };
}
