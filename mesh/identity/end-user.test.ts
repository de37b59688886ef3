import { Metadata, status } from "@grpc/grpc-js";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  SignJWT,
  type JWK,
  type KeyLike,
} from "jose";
import { UserServiceService, type GetUserResponse } from "../../gen/shop/users/v1/users";
import { rejectionOf, startTestServer, type TestServer } from "../../test/support";
import { PLAINTEXT_PEER, userScope } from "./user-scope";
import { createPeer, type Peer } from "../client/peer";
import type { EndUser } from "../api/call-context";
import { createEndUserAuthenticator, outgoingMetadata } from "./end-user";
import { loadTopology } from "../config/topology";
import { createTokenVerifier, TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_TYPE } from "./tokens";

const policy = loadTopology({}).policy;
const USER = "usr_01JAAAAAAAAAAAAAAAAAAAAAAA";

/** An Ed25519 key pair as users signs tokens with (services/users/signing-key.ts). */
interface SigningKey {
  privateKey: KeyLike;
  kid: string;
  publicJwk: JWK;
}

async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { privateKey, kid, publicJwk: { ...publicJwk, kid, alg: "EdDSA", use: "sig" } };
}

const tokenFor = (key: SigningKey, sub = USER): Promise<string> =>
  new SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", typ: TOKEN_TYPE, kid: key.kid })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(key.privateKey);

const withToken = (token: string): Metadata => {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
};

describe("the access rule for user data", () => {
  const ada: EndUser = { userId: USER, authorization: "Bearer x" };

  it("confines a call with an end user to that user, whoever relays it", () => {
    expect(userScope(ada, null)).toBe(USER);
    expect(userScope(ada, "spiffe://shop/service/orders")).toBe(USER);
  });

  it("lets an identified service without an end user see everyone's data", () => {
    expect(userScope(null, "spiffe://shop/service/orders")).toBeNull();
    expect(userScope(null, PLAINTEXT_PEER)).toBeNull();
  });

  it("refuses a call with neither an end user nor a caller identity with UNAUTHENTICATED", () => {
    expect(() => userScope(null, null)).toThrow(
      expect.objectContaining({ code: status.UNAUTHENTICATED }) as Error,
    );
  });
});

describe("end users across a chain of calls", () => {
  let key: SigningKey;
  let jwksReads: number;
  let keys: SigningKey[];
  let front: TestServer;
  let back: TestServer;
  let toBack: Peer<typeof UserServiceService>;
  let toFront: Peer<typeof UserServiceService>;
  const seenByBack: (string | null)[] = [];
  const unused = (): Promise<never> => Promise.reject(new Error("not used"));

  beforeAll(async () => {
    key = await generateSigningKey();
    keys = [key];
    jwksReads = 0;
    const verify = createTokenVerifier({
      jwks: () => {
        jwksReads++;
        return Promise.resolve({ keys: keys.map((k) => k.publicJwk) });
      },
      reloadAfterMs: 0,
    });
    const options = { endUsers: createEndUserAuthenticator(verify) };
    const user = (userId: string): GetUserResponse => ({
      user: { userId, email: "", displayName: "", createTime: new Date(0) },
    });
    back = await startTestServer(
      (s) =>
        s.addService(UserServiceService, {
          createUser: unused,
          listUsers: unused,
          getUser: async (request, ctx) => {
            seenByBack.push(ctx.endUser?.userId ?? null);
            return user(request.userId);
          },
        }),
      "127.0.0.1:0",
      options,
    );
    toBack = createPeer(UserServiceService, { target: back.address, policy });
    front = await startTestServer(
      (s) =>
        s.addService(UserServiceService, {
          createUser: unused,
          listUsers: unused,
          // Relays to the back server while serving this call: `parent` carries the end user.
          getUser: (request, ctx) => toBack.getUser(request, { parent: ctx }),
        }),
      "127.0.0.1:0",
      options,
    );
    toFront = createPeer(UserServiceService, { target: front.address, policy });
  });
  afterAll(async () => {
    toFront.close();
    toBack.close();
    await Promise.all([front.close(), back.close()]);
  });
  beforeEach(() => (seenByBack.length = 0));

  it("forwards the end user's token on calls made for the incoming call", async () => {
    await toFront.getUser({ userId: USER }, { metadata: withToken(await tokenFor(key)) });
    await toFront.getUser({ userId: USER });
    expect(seenByBack).toEqual([USER, null]);
  });

  it("reads the key set once, not per call, and again only for a key it does not know", async () => {
    const before = jwksReads;
    const token = await tokenFor(key);
    for (let i = 0; i < 10; i++)
      await toFront.getUser({ userId: USER }, { metadata: withToken(token) });
    expect(jwksReads - before).toBe(0);

    // users rotates its key: the first token with the new kid makes the verifier (shared by
    // both servers here) read the key set once more.
    const rotated = await generateSigningKey();
    keys = [key, rotated];
    await toFront.getUser({ userId: USER }, { metadata: withToken(await tokenFor(rotated)) });
    expect(jwksReads - before).toBe(1);
  });

  it("refuses an unknown key with UNAUTHENTICATED before the handler runs", async () => {
    const stranger = await generateSigningKey();
    const err = await rejectionOf(
      toFront.getUser({ userId: USER }, { metadata: withToken(await tokenFor(stranger)) }),
    );
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(seenByBack).toEqual([]);
  });

  it("never changes metadata the caller passed", () => {
    const mine = new Metadata();
    mine.set("x-request-id", "1");
    const parent = { endUser: { userId: USER, authorization: "Bearer t" } } as Parameters<
      typeof outgoingMetadata
    >[1];
    const sent = outgoingMetadata(mine, parent);
    expect(sent.get("authorization")).toEqual(["Bearer t"]);
    expect(mine.get("authorization")).toEqual([]);
    expect(sent.get("x-request-id")).toEqual(["1"]);
  });
});
