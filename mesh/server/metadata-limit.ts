import { status, type Metadata, type StatusObject } from "@grpc/grpc-js";
import { ownMessageMetadata } from "../api/errors";

// RFC 7540 §6.5.2: each header field counts its name, its value and 32 bytes of overhead.
const ENTRY_OVERHEAD = 32;

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

/**
 * The most request metadata a server accepts (mesh.yaml `limits.maxMetadataSize`). grpc-js
 * has no server option for it (`grpc.max_metadata_size` is C-core's), and Node's own HTTP/2
 * limit answers with a stream reset that clients report as INTERNAL; this answers
 * RESOURCE_EXHAUSTED, naming the limit, before any handler runs.
 */
export class MetadataLimit {
  constructor(readonly maxBytes: number) {}

  /** The status to answer with when `metadata` is too large, else null. */
  check(metadata: Metadata): Partial<StatusObject> | null {
    const size = metadataSize(metadata);
    if (size <= this.maxBytes) return null;
    return {
      code: status.RESOURCE_EXHAUSTED,
      details: `request metadata is ${size} bytes; the limit is ${this.maxBytes} (limits.maxMetadataSize)`,
      metadata: ownMessageMetadata(),
    };
  }
}
