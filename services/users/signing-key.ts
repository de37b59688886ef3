import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
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
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, text, { mode });
  await rename(temporary, file);
}

/** The key saved in `keyFile`. */
async function readSigningKey(keyFile: string): Promise<SigningKey> {
  const jwk = JSON.parse(await readFile(keyFile, "utf8")) as JWK;
  const { d: _private, ...publicJwk } = jwk;
  return {
    privateKey: (await importJWK(jwk, TOKEN_ALGORITHM)) as KeyLike,
    kid: jwk.kid ?? "",
    publicJwk,
  };
}

/**
 * Saves a new key as `keyFile` unless another process saved one first, and resolves to the
 * key in the file. Two users instances starting together on a fresh data folder both make a
 * key: `link` creates the file only if it is not there (EEXIST otherwise), so exactly one key
 * wins and both sign with it. A plain rename would let the second overwrite the first, and
 * the first would sign tokens with a key no service trusts.
 */
async function saveFirstKey(keyFile: string, made: SigningKey): Promise<SigningKey> {
  await mkdir(dirname(keyFile), { recursive: true });
  const privateJwk = { ...(await exportJWK(made.privateKey)), ...made.publicJwk };
  const temporary = `${keyFile}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temporary, JSON.stringify(privateJwk), { mode: 0o600 });
  try {
    await link(temporary, keyFile);
    return made;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return readSigningKey(keyFile);
  } finally {
    await unlink(temporary);
  }
}

/**
 * The signing key kept in `dataDir`: read when it is there, else made and saved (once, even
 * when instances start together). The public key set is (re)written beside it at
 * {@link jwksPath}, where every service reads it.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const keyFile = signingKeyPath(dataDir);
  let key: SigningKey;
  try {
    key = await readSigningKey(keyFile);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    key = await saveFirstKey(keyFile, await generateSigningKey());
  }
  await writeAtomically(jwksPath(dataDir), JSON.stringify({ keys: [key.publicJwk] }), 0o644);
  return key;
}
