/**
 * Who is calling: mTLS certificates from the mesh's own CA, SPIFFE ids, end users' access
 * tokens, and which users' data a call may see.
 */
export {
  createMeshIdentity,
  PLAINTEXT_WARNING,
  type DialOptions,
  type MeshIdentity,
} from "./credentials";
export {
  AUTHORIZATION,
  createEndUserAuthenticator,
  outgoingMetadata,
  type EndUserAuthenticator,
} from "./end-user";
export {
  certificateFiles,
  ensurePki,
  secretCertificateFiles,
  operatorOf,
  partiesOf,
  type CertificateFiles,
  type PkiOptions,
} from "./pki";
export {
  ANONYMOUS,
  callerOf,
  parseSpiffeId,
  spiffeId,
  spiffeIdOfCertificate,
  type MeshSpiffeId,
  type Party,
} from "./spiffe";
export {
  CLOCK_TOLERANCE_SECONDS,
  createTokenVerifier,
  jwksFile,
  jwksPath,
  TOKEN_ALGORITHM,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_TYPE,
  TokenError,
  type JwksSource,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "./tokens";
export {
  actingUser,
  callerServiceOf,
  PLAINTEXT_PEER,
  scopeOf,
  serviceOnly,
  setEdgeCallers,
  userScope,
  visibleIn,
} from "./user-scope";
