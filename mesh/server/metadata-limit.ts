import { status, type Metadata, type StatusObject } from "@grpc/grpc-js";

// RFC 7540 §6.5.2: each header field counts its name, its value and 32 bytes of overhead.
const ENTRY_OVERHEAD = 32;

/** What a request's header list holds, as HTTP/2 delivered it (every field, repeats too). */
export interface HeaderCounts {
  /** Bytes as SETTINGS_MAX_HEADER_LIST_SIZE counts them: name + value + 32 per field. */
  size: number;
  /** Header fields other than pseudo-headers (`:path`…): the metadata entries. */
  entries: number;
  /** How many `authorization` fields came: more than one is ambiguous, so refused. */
  authorizations: number;
}

/**
 * Counts a raw header list (`[name, value, name, value…]`, Node's `rawHeaders`), before Node
 * folds it into an object: there a repeated `authorization` keeps only its first value and
 * other repeated keys are joined into one.
 */
export function countRawHeaders(raw: readonly string[]): HeaderCounts {
  const counts: HeaderCounts = { size: 0, entries: 0, authorizations: 0 };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    counts.size += name.length + raw[i + 1].length + ENTRY_OVERHEAD;
    if (name.startsWith(":")) continue;
    counts.entries++;
    if (name === "authorization") counts.authorizations++;
  }
  return counts;
}

/**
 * The size of metadata as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE counts it: every value of a
 * repeated key (a header field each), binary values as the base64 they travel in.
 */
export function metadataSize(metadata: Metadata): number {
  let size = 0;
  // toJSON hands out every value of every key without copying (getMap keeps only the first).
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) {
      const bytes =
        typeof value === "string" ? Buffer.byteLength(value) : Math.ceil(value.length / 3) * 4;
      size += key.length + bytes + ENTRY_OVERHEAD;
    }
  }
  return size;
}

/** The same counts from grpc-js's Metadata, when the raw header list is not at hand. */
export function countMetadata(metadata: Metadata): HeaderCounts {
  const values = Object.values(metadata.toJSON());
  return {
    size: metadataSize(metadata),
    entries: values.reduce((sum, list) => sum + list.length, 0),
    authorizations: metadata.get("authorization").length,
  };
}

/**
 * The most request metadata a server accepts: mesh.yaml `limits.maxMetadataSize` (bytes) and
 * `limits.maxMetadataEntries`. grpc-js has no server option for either (`grpc.max_metadata_size`
 * is C-core's), and past Node's own HTTP/2 limits a call is reset, which clients report as
 * INTERNAL or RESOURCE_EXHAUSTED without a word; this answers RESOURCE_EXHAUSTED naming the
 * limit, before any handler runs (server/inbound.ts).
 */
export class MetadataLimit {
  constructor(
    readonly maxBytes: number,
    readonly maxEntries: number,
  ) {}

  /** The status to answer with when the request's metadata is too large, else null. */
  check(counts: HeaderCounts): Pick<StatusObject, "code" | "details"> | null {
    if (counts.size > this.maxBytes) {
      return {
        code: status.RESOURCE_EXHAUSTED,
        details: `request metadata is ${counts.size} bytes; the limit is ${this.maxBytes} (limits.maxMetadataSize)`,
      };
    }
    if (counts.entries > this.maxEntries) {
      return {
        code: status.RESOURCE_EXHAUSTED,
        details: `request metadata has ${counts.entries} entries; the limit is ${this.maxEntries} (limits.maxMetadataEntries)`,
      };
    }
    return null;
  }
}
