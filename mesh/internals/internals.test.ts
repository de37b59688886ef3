import { createRequire } from "node:module";
import {
  Client,
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  status,
  type ServerInterceptor,
} from "@grpc/grpc-js";
import knex from "knex";
import {
  addHttp2Options,
  baseStatusRefiner,
  http2ServersOf,
  makeKnex,
  passThrough,
  Sqlite3Client,
  SqliteTransaction,
  streamOf,
} from ".";

// These tests are the alarm for a library upgrade: each names the file that needs a look.
const versionOf = (name: string): string =>
  (createRequire(__filename)(`${name}/package.json`) as { version: string }).version;

describe("knex internals (mesh/internals/knex.ts)", () => {
  const where = `knex ${versionOf("knex")}: mesh/internals/knex.ts and store/sqlite.ts need a look`;

  it("has the SQLite client and transaction classes the store extends", () => {
    expect({ where, client: typeof Sqlite3Client }).toEqual({ where, client: "function" });
    expect({
      where,
      query: typeof (Sqlite3Client.prototype as { _query?: unknown })._query,
    }).toEqual({
      where,
      query: "function",
    });
    expect({
      where,
      transaction: typeof (SqliteTransaction.prototype as { query?: unknown }).query,
    }).toEqual({
      where,
      transaction: "function",
    });
  });

  it("builds a working knex around a client with makeKnex", async () => {
    const base = knex({
      client: "sqlite3",
      connection: { filename: ":memory:" },
      useNullAsDefault: true,
    });
    try {
      const pinned = makeKnex(base.client as object);
      const rows: unknown = await pinned.raw("select 1 + 1 as two");
      expect({ where, rows }).toEqual({ where, rows: [{ two: 2 }] });
    } finally {
      await base.destroy();
    }
  });
});

describe("grpc-js internals (mesh/internals/grpc-js.ts)", () => {
  const where = `@grpc/grpc-js ${versionOf("@grpc/grpc-js")}: mesh/internals/grpc-js.ts needs a look`;

  /** A server with one unary method, `/test.Echo/Echo`, answering with the request. */
  const echoServer = (
    interceptor: ServerInterceptor,
    requestDeserialize = (b: Buffer): Buffer => b,
  ): Server => {
    const server = new Server({ interceptors: [interceptor] });
    server.addService(
      {
        echo: {
          path: "/test.Echo/Echo",
          requestStream: false,
          responseStream: false,
          requestSerialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          requestDeserialize,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      {
        echo: (call: { request: Buffer }, done: (err: null, value: Buffer) => void) =>
          done(null, call.request),
      },
    );
    return server;
  };
  /** Binds `server` on a free port of 127.0.0.1. */
  const bind = (server: Server): Promise<number> =>
    new Promise((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );

  // sessionOf is checked on real mTLS calls of every method in test/integration/mtls.test.ts.
  // The mesh's balancer uses only grpc-js's public `experimental` API (client/balancer.ts),
  // checked by client/balancer.test.ts.

  it("reaches a server's HTTP/2 options and servers, and a call's stream and base status", async () => {
    const seen: { stream: boolean; refined: boolean }[] = [];
    const interceptor: ServerInterceptor = (_method, call) => {
      const refined = baseStatusRefiner((sent) => ({
        ...sent,
        details: `seen: ${sent.details}`,
      }))(call);
      seen.push({ stream: streamOf(call) !== undefined, refined });
      return new ServerInterceptingCall(call);
    };
    // Throws: grpc-js's base call then sends its own status, which refine sees.
    const server = echoServer(interceptor, (): Buffer => {
      throw new Error("undecodable");
    });
    const options = addHttp2Options(server, { maxHeaderListPairs: 300 });
    const port = await bind(server);
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const servers = http2ServersOf(server);
      const answer = await new Promise<{ code: number; details: string }>((resolve) =>
        client.makeUnaryRequest(
          "/test.Echo/Echo",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(1),
          new Metadata(),
          (err) => resolve({ code: err?.code ?? 0, details: err?.details ?? "" }),
        ),
      );
      expect({ where, options, servers: servers.length, seen, answer }).toEqual({
        where,
        options: true,
        servers: 1,
        seen: [{ stream: true, refined: true }],
        answer: { code: status.INTERNAL, details: "seen: Error deserializing request" },
      });
      expect({ where, streamListeners: servers[0].listenerCount("stream") }).toEqual({
        where,
        streamListeners: 1,
      });
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it("builds a call's interceptors in the emit of its stream, and serves a call an interceptor passes through", async () => {
    // server/inbound.ts hands a stream's verdict from its "stream" listener to its interceptor
    // in the same emit, and returns the base call itself when there is nothing to refuse.
    const order: string[] = [];
    const interceptor: ServerInterceptor = (_method, call) => {
      order.push(`interceptor ${streamOf(call) === lastStream ? "same" : "other"} stream`);
      return passThrough(call);
    };
    let lastStream: unknown;
    const server = echoServer(interceptor);
    const port = await bind(server);
    for (const http2Server of http2ServersOf(server)) {
      http2Server.prependListener("stream", (stream) => {
        lastStream = stream;
        order.push("stream");
        // Nothing of grpc-js's may run between: its listener comes next, in this same emit.
        queueMicrotask(() => order.push("microtask"));
      });
    }
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const answer = await new Promise<string>((resolve, reject) =>
        client.makeUnaryRequest(
          "/test.Echo/Echo",
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from("hi"),
          new Metadata(),
          (err, value) => (err ? reject(err) : resolve(String(value))),
        ),
      );
      expect({ where, order, answer }).toEqual({
        where,
        order: ["stream", "interceptor same stream", "microtask"],
        answer: "hi",
      });
    } finally {
      client.close();
      server.forceShutdown();
    }
  });
});
