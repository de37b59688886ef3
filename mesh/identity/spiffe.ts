import type { ServerSurfaceCall } from "../api/call-context";
import { sessionOf } from "../internals/grpc-js";
import { uriSans } from "./san";

/** A party of the mesh that holds a certificate: a service (or client) or an operator. */
export interface Party {
  kind: "service" | "operator";
  name: string;
}

/** A SPIFFE id of the mesh, taken apart. */
export interface MeshSpiffeId {
  trustDomain: string;
  party: Party;
}

/** What a caller is called when there is no certificate to name it (plaintext mode). */
export const ANONYMOUS = "anonymous";

// https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md: a lowercase trust domain,
// path segments of letters, digits, ".", "-" and "_" ("." and ".." excluded), nothing else (no
// port, user info, query, fragment or percent-encoding), 2048 bytes at most.
const SPIFFE_ID = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/;
const MAX_SPIFFE_ID_BYTES = 2_048;
// The mesh's own paths: /service/<name> and /operator/<name>, names as mesh.yaml spells them.
const MESH_PATH = /^\/(service|operator)\/([a-z][a-z0-9-]*)$/;

/** The SPIFFE id of a party: `spiffe://<trustDomain>/<kind>/<name>`. */
export function spiffeId(trustDomain: string, party: Party): string {
  return `spiffe://${trustDomain}/${party.kind}/${party.name}`;
}

/**
 * `text` read as a SPIFFE id of this mesh (`spiffe://<trust domain>/service/<name>` or
 * `/operator/<name>`), or undefined when it is not one: the SPIFFE-ID rules, then the URL
 * parser's reading must agree with them (no port, user info, query or fragment hides in it).
 */
export function parseSpiffeId(text: string): MeshSpiffeId | undefined {
  if (text.length > MAX_SPIFFE_ID_BYTES) return undefined;
  const match = SPIFFE_ID.exec(text);
  if (!match) return undefined;
  const [, trustDomain, path] = match;
  if (path.split("/").some((segment) => segment === "." || segment === "..")) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  const plain = !url.username && !url.password && !url.port && !url.search && !url.hash;
  if (!plain || url.protocol !== "spiffe:" || url.host !== trustDomain || url.pathname !== path) {
    return undefined;
  }
  const party = MESH_PATH.exec(path);
  if (!party) return undefined;
  return { trustDomain, party: { kind: party[1] as Party["kind"], name: party[2] } };
}

/**
 * The SPIFFE id a certificate proves (X509-SVID: exactly one URI SAN, and it is the SPIFFE id),
 * or undefined: no URI SAN or more than one, or one that is not a SPIFFE id of the mesh. Text
 * in DNS, email or other SANs never counts, whatever it reads.
 * https://github.com/spiffe/spiffe/blob/main/standards/X509-SVID.md#2-spiffe-id
 */
export function spiffeIdOfCertificate(cert: { raw?: Buffer } | undefined): string | undefined {
  const uris = cert?.raw ? uriSans(cert.raw) : undefined;
  if (uris?.length !== 1) return undefined;
  return parseSpiffeId(uris[0]) ? uris[0] : undefined;
}

// grpc-js reads the peer certificate anew on every getAuthContext, turning all of it into a JS
// object (tens of microseconds); a connection's certificate never changes (HTTP/2 forbids TLS
// renegotiation), so the id is kept per HTTP/2 session, and dropped with it.
const idBySession = new WeakMap<object, string | undefined>();

/**
 * The caller's SPIFFE id, from the client certificate its TLS connection was verified with
 * (grpc-js `getAuthContext`, 1.10+), read once per connection; undefined on a plaintext
 * connection or when the certificate proves no SPIFFE id ({@link spiffeIdOfCertificate}). Any
 * trust domain: access control (server/access.ts) accepts only its own.
 */
export function callerOf(call: ServerSurfaceCall): string | undefined {
  const session = sessionOf(call);
  if (session && idBySession.has(session)) return idBySession.get(session);
  const id = spiffeIdOfCertificate(call.getAuthContext().sslPeerCertificate);
  if (session) idBySession.set(session, id);
  return id;
}
