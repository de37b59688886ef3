import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serialize } from "node:v8";
import { parse } from "yaml";
import { parseYamlCached } from "./yaml-cache";

describe("parseYamlCached: mesh.yaml parsed once for the members that start together", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "yaml-cache-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const text = "host: 127.0.0.1\nservices:\n  users: { port: 50051 }\nlimit: .inf\n";

  it("gives what yaml's parse gives, and keeps it under the text's hash", () => {
    const cache = join(dir, "mesh-yaml");
    expect(parseYamlCached(text, cache)).toEqual(parse(text));
    expect(readdirSync(cache)).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.v8$/)]);
    // Read back, .inf is still Infinity (JSON would have made it null).
    expect(parseYamlCached(text, cache)).toEqual({ ...(parse(text) as object), limit: Infinity });
  });

  it("reads a cached document instead of parsing the text again", () => {
    const cache = join(dir, "mesh-yaml");
    parseYamlCached(text, cache);
    const [file] = readdirSync(cache);
    writeFileSync(join(cache, file), serialize({ from: "the cache" }));
    expect(parseYamlCached(text, cache)).toEqual({ from: "the cache" });
  });

  it("keys another text apart, so an edited mesh.yaml is parsed afresh", () => {
    const cache = join(dir, "mesh-yaml");
    parseYamlCached(text, cache);
    expect(parseYamlCached(text.replace("50051", "6000"), cache)).toMatchObject({
      services: { users: { port: 6000 } },
    });
    expect(readdirSync(cache)).toHaveLength(2);
  });

  it("throws yaml's error for a text that is not YAML, and caches nothing", () => {
    const cache = join(dir, "mesh-yaml");
    expect(() => parseYamlCached("services: [unclosed", cache)).toThrow(/Flow sequence|flow/i);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("parses as usual where the cache cannot be written, and without a cache", () => {
    chmodSync(dir, 0o500);
    try {
      // root may write anyway; either way the document is right.
      expect(parseYamlCached(text, join(dir, "mesh-yaml"))).toEqual(parse(text));
    } finally {
      chmodSync(dir, 0o700);
    }
    writeFileSync(join(dir, "not-a-folder"), "");
    expect(parseYamlCached(text, join(dir, "not-a-folder"))).toEqual(parse(text));
    expect(parseYamlCached(text)).toEqual(parse(text));
  });
});
