import type { ServerSurfaceCall } from "../context";

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

/**
 * The caller's SPIFFE id, from the client certificate its TLS connection was verified with
 * (grpc-js `getAuthContext`, 1.10+); undefined on a plaintext connection.
 */
export function callerOf(call: ServerSurfaceCall): string | undefined {
  return spiffeIdOfSan(call.getAuthContext().sslPeerCertificate?.subjectaltname);
}
