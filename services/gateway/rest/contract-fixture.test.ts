/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment,
   @typescript-eslint/no-explicit-any --
   The gateway's answers and the OpenAPI document are JSON read as `any` and pinned by expect(). */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { silentLogger } from "../../../mesh";
import { Descriptors, projectRoot } from "../../../mesh/config";
import { topologyAt } from "../../../test/gateway-harness";
import { createGateway, type Gateway } from "../gateway";
import { definitionOf } from "./peers";

/** A contract the gateway has never seen, with its REST rules; `extra` goes into Widget. */
const fixture = (extra: string) => `syntax = "proto3";

package fixture.widgets.v1;

import "google/api/annotations.proto";
import "shop/api/v1/field.proto";

// Widgets, served only to test the gateway.
service WidgetService {
  // Makes a widget.
  rpc CreateWidget(CreateWidgetRequest) returns (CreateWidgetResponse) {
    option (google.api.http) = {post: "/v1/widgets" body: "*"};
  }
}

// A widget.
message Widget {
  // Its name.
  string name = 1;
${extra}
}

message CreateWidgetRequest {
  // What to make.
  Widget widget = 1 [(shop.api.v1.field) = {required: true}];
}

message CreateWidgetResponse {
  Widget widget = 1;
}
`;

const COLOR = `  // The widget's colour, added later: no gateway change needed.
  string color = 2 [(shop.api.v1.field) = {max_length: 16}];
  // How many; int64, so a string in JSON.
  int64 count = 3;`;

/** Compiles `proto` with buf (the project's codegen tool) into a descriptor set, as codegen does. */
function compile(dir: string, proto: string): Descriptors {
  const root = projectRoot();
  const src = join(dir, "proto");
  rmSync(src, { recursive: true, force: true });
  mkdirSync(join(src, "fixture", "widgets", "v1"), { recursive: true });
  cpSync(join(root, "proto", "google"), join(src, "google"), { recursive: true });
  cpSync(join(root, "proto", "shop", "api"), join(src, "shop", "api"), { recursive: true });
  writeFileSync(join(src, "fixture", "widgets", "v1", "widgets.proto"), proto);
  writeFileSync(join(src, "buf.yaml"), "version: v2\n");
  const out = join(dir, "set.binpb");
  execFileSync(join(root, "node_modules", ".bin", "buf"), [
    "build",
    src,
    "--as-file-descriptor-set",
    "-o",
    out,
  ]);
  return new Descriptors(readFileSync(out));
}

/** A gRPC server of the fixture that answers what it was sent, field for field. */
async function echoServer(descriptors: Descriptors): Promise<{ address: string; close(): void }> {
  const service = descriptors.registry.getService("fixture.widgets.v1.WidgetService")!;
  const output = descriptors.registry.getMessage(
    "fixture.widgets.v1.CreateWidgetResponse",
  ) as DescMessage;
  const server = new Server();
  server.addService(definitionOf(service), {
    CreateWidget: (
      call: ServerUnaryCall<Message & { widget?: Message }, Message>,
      done: sendUnaryData<Message>,
    ) => done(null, create(output, { widget: call.request.widget })),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return { address: `127.0.0.1:${port}`, close: () => server.forceShutdown() };
}

describe("REST and OpenAPI from a contract the gateway has never seen", () => {
  const dir = mkdtempSync(join(tmpdir(), "gateway-fixture-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The fixture served through a gateway made from its descriptors; the callback uses it. */
  async function withGateway(
    proto: string,
    use: (base: string, gateway: Gateway) => Promise<void>,
  ) {
    const descriptors = compile(dir, proto);
    const echo = await echoServer(descriptors);
    const gateway = createGateway({
      topology: topologyAt({}, dir),
      log: silentLogger(),
      descriptors,
      targets: { widgets: echo.address },
    });
    try {
      await use(`http://127.0.0.1:${await gateway.listen(0)}`, gateway);
    } finally {
      await gateway.close();
      echo.close();
    }
  }
  const post = (base: string, body: object) =>
    fetch(`${base}/v1/widgets`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  test("a field added to the contract is accepted, answered and documented, with no gateway change", async () => {
    await withGateway(fixture(""), async (base) => {
      const answer = await post(base, { widget: { name: "w" } });
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ widget: { name: "w" } });
      // Not a field yet: refused by name.
      const unknown = await post(base, { widget: { name: "w", color: "red" } });
      expect(unknown.status).toBe(400);
      expect(((await unknown.json()) as any).error.message).toBe(
        "widget.color: is not a field of this request",
      );
    });

    await withGateway(fixture(COLOR), async (base) => {
      const answer = await post(base, { widget: { name: "w", color: "red", count: 7 } });
      expect(answer.status).toBe(200);
      // proto3 JSON both ways: the int64 comes back as a string.
      expect(await answer.json()).toEqual({ widget: { name: "w", color: "red", count: "7" } });
      // The new field's rule from the contract is enforced.
      const long = await post(base, { widget: { name: "w", color: "x".repeat(17) } });
      expect(((await long.json()) as any).error.details[0].fieldViolations[0].field).toBe(
        "widget.color",
      );

      const doc = (await (await fetch(`${base}/openapi.json`)).json()) as any;
      const operation = doc.paths["/v1/widgets"].post;
      expect(operation.summary).toBe("Makes a widget.");
      expect(
        operation.requestBody.content["application/json"].schema.properties.widget.properties.color,
      ).toEqual({
        type: "string",
        maxLength: 16,
        description: "The widget's colour, added later: no gateway change needed.",
      });
      expect(doc.components.schemas["fixture.widgets.v1.Widget"].properties).toMatchObject({
        color: { type: "string" },
        count: { type: "string", format: "int64" },
      });
    });
  }, 60_000);
});
