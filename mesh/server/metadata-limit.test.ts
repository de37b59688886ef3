import { Metadata, status } from "@grpc/grpc-js";
import { countMetadata, countRawHeaders, MetadataLimit, metadataSize } from "./metadata-limit";

describe("metadataSize", () => {
  it("counts every value of a repeated key, each as a header field (name, value, 32 bytes)", () => {
    const once = new Metadata();
    once.add("x-note", "abc");
    const thrice = new Metadata();
    for (let i = 0; i < 3; i++) thrice.add("x-note", "abc");
    expect(metadataSize(once)).toBe("x-note".length + 3 + 32);
    expect(metadataSize(thrice)).toBe(3 * metadataSize(once));
  });

  it("counts binary values as the base64 they travel in", () => {
    const metadata = new Metadata();
    metadata.add("x-blob-bin", Buffer.alloc(30));
    expect(metadataSize(metadata)).toBe("x-blob-bin".length + 40 + 32);
  });

  it("lets a limit refuse what only the repeated values push over it", () => {
    const metadata = new Metadata();
    for (let i = 0; i < 3; i++) metadata.add("x-note", "y".repeat(1_000));
    expect(new MetadataLimit(2_048, 100).check(countMetadata(metadata))).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
    });
  });
});

describe("countRawHeaders", () => {
  // As Node hands a stream's header list to a 'stream' listener, before folding it.
  const raw = [":path", "/a.B/C", "authorization", "Bearer x", "authorization", "Bearer y"];

  it("counts every field, repeats included, and pseudo-headers only in the size", () => {
    expect(countRawHeaders(raw)).toEqual({
      size: 5 + 6 + 13 + 8 + 13 + 8 + 3 * 32,
      entries: 2,
      authorizations: 2,
    });
  });

  it("names the entry limit when there are too many entries", () => {
    const many = Array.from({ length: 101 }, (_, i) => [`x-k${i}`, "v"]).flat();
    expect(new MetadataLimit(1_000_000, 100).check(countRawHeaders(many))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: "request metadata has 101 entries; the limit is 100 (limits.maxMetadataEntries)",
    });
  });
});
