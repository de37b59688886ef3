import { Metadata, status } from "@grpc/grpc-js";
import { MetadataLimit, metadataSize } from "./metadata-limit";

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
    expect(new MetadataLimit(2_048).check(metadata)).toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
    });
  });
});
