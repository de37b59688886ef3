/**
 * The URI entries of an X.509 certificate's subjectAltName extension, read from its DER bytes.
 * Node prints SANs only as one text (`DNS:a, URI:b, email:c`), in which an email or DNS entry
 * can read `URI:spiffe://…`; the DER says which kind each entry is (RFC 5280 §4.2.1.6).
 */

// ASN.1 DER tags used on the way to the SANs.
const SEQUENCE = 0x30;
const OCTET_STRING = 0x04;
const OBJECT_IDENTIFIER = 0x06;
const EXTENSIONS = 0xa3; // tbsCertificate's [3] EXPLICIT extensions
const URI_NAME = 0x86; // GeneralName's [6] IMPLICIT IA5String uniformResourceIdentifier
// 2.5.29.17, id-ce-subjectAltName, as DER content bytes.
const SUBJECT_ALT_NAME = Buffer.from([0x55, 0x1d, 0x11]);
// Long-form lengths beyond 4 bytes would describe more than a certificate ever holds.
const MAX_LENGTH_BYTES = 4;

interface Tlv {
  tag: number;
  /** The content's first byte and the byte after it. */
  start: number;
  end: number;
}

/** One DER element at `offset` of `der[..limit)`; throws on anything malformed. */
function readTlv(der: Buffer, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new Error("truncated");
  const tag = der[offset];
  let length = der[offset + 1];
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    // 0x80 is BER's indefinite length, which DER forbids.
    if (bytes === 0 || bytes > MAX_LENGTH_BYTES || start + bytes > limit) {
      throw new Error("bad length");
    }
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i];
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new Error("truncated");
  return { tag, start, end };
}

/** The elements inside a constructed element. */
function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

/**
 * Every URI SAN of the DER certificate `der`, in order; undefined when the certificate cannot
 * be read or has more than one subjectAltName extension (RFC 5280 §4.2 forbids that). A URI
 * that is not ASCII (IA5String) counts as unreadable too.
 */
export function uriSans(der: Buffer): string[] | undefined {
  try {
    const certificate = readTlv(der, 0, der.length);
    if (certificate.tag !== SEQUENCE) return undefined;
    const [tbs] = children(der, certificate);
    if (tbs?.tag !== SEQUENCE) return undefined;
    const extensions = children(der, tbs).find((field) => field.tag === EXTENSIONS);
    if (!extensions) return [];
    const [list] = children(der, extensions);
    if (list?.tag !== SEQUENCE) return undefined;
    let found: string[] | undefined;
    for (const extension of children(der, list)) {
      const parts = children(der, extension);
      const id = parts[0];
      if (id?.tag !== OBJECT_IDENTIFIER) return undefined;
      if (!der.subarray(id.start, id.end).equals(SUBJECT_ALT_NAME)) continue;
      if (found) return undefined;
      // extnID, then critical (optional BOOLEAN), then the value: an OCTET STRING.
      const value = parts[parts.length - 1];
      if (value.tag !== OCTET_STRING) return undefined;
      const names = readTlv(der, value.start, value.end);
      if (names.tag !== SEQUENCE) return undefined;
      found = [];
      for (const name of children(der, names)) {
        if (name.tag !== URI_NAME) continue;
        const bytes = der.subarray(name.start, name.end);
        if (bytes.some((byte) => byte > 0x7f)) return undefined;
        found.push(bytes.toString("latin1"));
      }
    }
    return found ?? [];
  } catch {
    return undefined;
  }
}
