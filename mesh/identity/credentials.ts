import { existsSync } from "node:fs";
import {
  ChannelCredentials,
  ServerCredentials,
  type ChannelOptions,
  credentials as grpcCredentials,
  experimental,
} from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { SecurityConfig } from "../config/security";
import { certificateFiles, secretCertificateFiles } from "./pki";
import { ANONYMOUS, spiffeId, spiffeIdOfCertificate, type Party } from "./spiffe";

/** What every process of a plaintext mesh prints at start. */
export const PLAINTEXT_WARNING =
  "PLAINTEXT MODE (security.mode: plaintext / MESH_PLAINTEXT=1): no TLS, no identities, and " +
  "therefore NO AUTHORIZATION — anyone who can reach a port may call every method. For local " +
  "experiments only; remove the switch to run with mTLS.";

/** How to dial one service: spread into `createPeer` options, or pass to a grpc-js client. */
export interface DialOptions {
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
}

/**
 * One process's identity: the credentials its server listens with and its clients dial with.
 * In mTLS mode both come from its certificate files through one grpc-js
 * `FileWatcherCertificateProvider`, which re-reads them every `security.certificateRefresh`:
 * replace the files and new connections use the new certificate, no restart needed.
 */
export interface MeshIdentity {
  /** Its SPIFFE id, or "anonymous" in plaintext mode. */
  readonly id: string;
  /** True in plaintext mode: no TLS, no identities, no authorization. */
  readonly plaintext: boolean;
  /** Requires and verifies a client certificate from the mesh CA on every connection. */
  serverCredentials(): ServerCredentials;
  /**
   * Credentials that verify that the server's certificate is from the mesh CA and names
   * `spiffe://<trustDomain>/service/<service>`, and present this identity's certificate.
   * The TLS server name (SNI) is the service's name: servers are dialled by IP address,
   * which RFC 6066 does not allow there.
   */
  dialOptions(service: string): DialOptions;
  /**
   * Resolves once the certificate files have been read (at once in plaintext mode). grpc-js
   * reads them asynchronously, and a server that listens before then drops every connection
   * (its callers see UNAVAILABLE and back off), so servers wait for this before they listen.
   */
  certificatesLoaded(): Promise<void>;
}

/**
 * The identity of `party` under `security`.
 *
 * @throws Error naming the missing certificate file and how to make it.
 */
export function createMeshIdentity(security: SecurityConfig, party: Party): MeshIdentity {
  if (security.mode === "plaintext") {
    return {
      id: ANONYMOUS,
      plaintext: true,
      serverCredentials: () => ServerCredentials.createInsecure(),
      dialOptions: () => ({ credentials: grpcCredentials.createInsecure(), channelOptions: {} }),
      certificatesLoaded: () => Promise.resolve(),
    };
  }
  const files = security.certificateDir
    ? secretCertificateFiles(security.certificateDir)
    : certificateFiles(security.pkiDir, party);
  for (const file of [files.ca, files.cert, files.key]) {
    if (!existsSync(file)) {
      throw new Error(
        `${file} is missing: npm run start:all makes the mesh's certificates (security.pkiDir)`,
      );
    }
  }
  const provider = new experimental.FileWatcherCertificateProvider({
    certificateFile: files.cert,
    privateKeyFile: files.key,
    caCertificateFile: files.ca,
    refreshIntervalMs: security.certificateRefresh,
  });
  let loaded: Promise<void> | undefined;
  // One credentials object per service called: grpc-js shares a subchannel only between
  // equal credentials, and each checks for its own server identity.
  const byService = new Map<string, DialOptions>();
  return {
    id: spiffeId(security.trustDomain, party),
    plaintext: false,
    // grpc-js 1.14 passes its two provider arguments to the constructor swapped; one provider
    // for both the CA and the identity makes that harmless.
    serverCredentials: () =>
      experimental.createCertificateProviderServerCredentials(provider, provider, true),
    certificatesLoaded: () => (loaded ??= firstCertificates(provider)),
    dialOptions(service) {
      let made = byService.get(service);
      if (!made) {
        const expected = spiffeId(security.trustDomain, { kind: "service", name: service });
        const credentials = experimental.createCertificateProviderChannelCredentials(
          provider,
          provider,
          {
            // SPIFFE authenticates the workload, not the host name: only the id is checked,
            // read from the certificate's one URI SAN (never from DNS or email SANs' text).
            checkServerIdentity: (_host: string, cert: PeerCertificate) => {
              const actual = spiffeIdOfCertificate(cert);
              return actual === expected
                ? undefined
                : new Error(`server is ${actual ?? "no SPIFFE identity"}, expected ${expected}`);
            },
          },
        );
        made = { credentials, channelOptions: { "grpc.ssl_target_name_override": service } };
        byService.set(service, made);
      }
      return made;
    },
  };
}

/**
 * Resolves when `provider` has delivered both its first CA and identity update. Listening
 * starts its file watcher, which keeps what it read for the next listener (grpc-js's server
 * credentials), so the listeners are removed again once both came.
 */
function firstCertificates(provider: experimental.FileWatcherCertificateProvider): Promise<void> {
  return new Promise((resolve) => {
    let ca = false;
    let identity = false;
    const settle = () => {
      if (!ca || !identity) return;
      provider.removeCaCertificateListener(onCa);
      provider.removeIdentityCertificateListener(onIdentity);
      resolve();
    };
    const onCa = () => {
      ca = true;
      settle();
    };
    const onIdentity = () => {
      identity = true;
      settle();
    };
    provider.addCaCertificateListener(onCa);
    provider.addIdentityCertificateListener(onIdentity);
  });
}
