import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWK,
  type KeyLike,
} from "jose";
import { jwksPath, TOKEN_ALGORITHM } from "../../mesh";

/** The key users signs access tokens with, and its id (`kid`, the JWK thumbprint). */
export interface SigningKey {
  privateKey: KeyLike;
  kid: string;
  /** The public half, as published in the JWKS. */
  publicJwk: JWK;
}

/** The private key's file: readable by its owner only, never committed (data/ is ignored). */
export const signingKeyPath = (dataDir: string): string => join(dataDir, "users-signing-key.json");

/** A new Ed25519 key pair. */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(TOKEN_ALGORITHM, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateKey, kid, publicJwk: { ...publicJwk, kid, alg: TOKEN_ALGORITHM, use: "sig" } };
}

/** Writes a file whole or not at all: readers never see half a key set. */
async function writeAtomically(file: string, text: string, mode: number): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await rename(temporary, file);
}

/**
 * The signing key kept in `dataDir`: read when it is there, else made and saved. The public
 * key set is (re)written beside it at {@link jwksPath}, where every service reads it.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const keyFile = signingKeyPath(dataDir);
  let key: SigningKey;
  try {
    const jwk = JSON.parse(await readFile(keyFile, "utf8")) as JWK;
    const { d: _private, ...publicJwk } = jwk;
    key = {
      privateKey: (await importJWK(jwk, TOKEN_ALGORITHM)) as KeyLike,
      kid: jwk.kid ?? "",
      publicJwk,
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    key = await generateSigningKey();
    await mkdir(dirname(keyFile), { recursive: true });
    const privateJwk = { ...(await exportJWK(key.privateKey)), ...key.publicJwk };
    await writeAtomically(keyFile, JSON.stringify(privateJwk), 0o600);
  }
  await writeAtomically(jwksPath(dataDir), JSON.stringify({ keys: [key.publicJwk] }), 0o644);
  return key;
}
