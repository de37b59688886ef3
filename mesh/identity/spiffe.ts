import type { ServerSurfaceCall } from "../api/call-context";
import { sessionOf } from "../internals/grpc-js";

/** A party of the mesh that holds a certificate: a service (or client) or an operator. */
export interface Party {
  kind: "service" | "operator";
  name: string;
}

/** What a caller is called when there is no certificate to name it (plaintext mode). */
export const ANONYMOUS = "anonymous";

const URI_SAN = /URI:(spiffe:\/\/[^,\s]+)/;

/** The SPIFFE id of a party: `spiffe://<trustDomain>/<kind>/<name>`. */
export function spiffeId(trustDomain: string, party: Party): string {
  return `spiffe://${trustDomain}/${party.kind}/${party.name}`;
}

/**
 * The SPIFFE id in a certificate's `subjectaltname` as Node prints it
 * (`DNS:localhost, URI:spiffe://shop.local/service/orders`); undefined when there is none.
 */
export function spiffeIdOfSan(subjectAltName: string | undefined): string | undefined {
  return subjectAltName ? URI_SAN.exec(subjectAltName)?.[1] : undefined;
}

// grpc-js reads the peer certificate anew on every getAuthContext, turning all of it into a JS
// object (tens of microseconds); a connection's certificate never changes (HTTP/2 forbids TLS
// renegotiation), so the id is kept per HTTP/2 session, and dropped with it.
const idBySession = new WeakMap<object, string | undefined>();

/**
 * The caller's SPIFFE id, from the client certificate its TLS connection was verified with
 * (grpc-js `getAuthContext`, 1.10+), read once per connection; undefined on a plaintext
 * connection.
 */
export function callerOf(call: ServerSurfaceCall): string | undefined {
  const session = sessionOf(call);
  if (session && idBySession.has(session)) return idBySession.get(session);
  const id = spiffeIdOfSan(call.getAuthContext().sslPeerCertificate?.subjectaltname);
  if (session) idBySession.set(session, id);
  return id;
}
