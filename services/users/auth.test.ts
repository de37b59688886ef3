import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwksPath } from "../../mesh";
import { hashPassword, verifyPassword } from "./passwords";
import { loadOrCreateSigningKey, signingKeyPath } from "./signing-key";

const CHEAP = { N: 2 ** 10, r: 8, p: 1 };

describe("password hashes", () => {
  it("stores scrypt's parameters and a fresh salt with every hash", async () => {
    const [a, b] = await Promise.all([
      hashPassword("correct horse", CHEAP),
      hashPassword("correct horse", CHEAP),
    ]);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
  });

  it("verifies the right password only, with the parameters stored in the hash", async () => {
    const hash = await hashPassword("correct horse", CHEAP);
    expect(await verifyPassword("correct horse", hash)).toBe(true);
    expect(await verifyPassword("correct hors", hash)).toBe(false);
    expect(await verifyPassword("correct horse", "md5$abc")).toBe(false);
  });
});

describe("the signing key in the data folder", () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), "users-key-"))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("is made once, readable by its owner only, and publishes only its public half", async () => {
    const first = await loadOrCreateSigningKey(dataDir);
    const again = await loadOrCreateSigningKey(dataDir);

    expect(again.kid).toBe(first.kid);
    expect(statSync(signingKeyPath(dataDir)).mode & 0o777).toBe(0o600);
    const jwks = JSON.parse(readFileSync(jwksPath(dataDir), "utf8")) as {
      keys: Record<string, string>[];
    };
    expect(jwks.keys).toEqual([
      {
        kty: "OKP",
        crv: "Ed25519",
        x: expect.any(String) as string,
        kid: first.kid,
        alg: "EdDSA",
        use: "sig",
      },
    ]);
  });

  it("is one key for two instances starting together on a fresh folder (users runs two)", async () => {
    const keys = await Promise.all(
      Array.from({ length: 4 }, () => loadOrCreateSigningKey(dataDir)),
    );

    expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
    const jwks = JSON.parse(readFileSync(jwksPath(dataDir), "utf8")) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([keys[0].kid]);
    expect(readdirSync(dataDir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});
