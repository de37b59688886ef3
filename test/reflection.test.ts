import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescField,
  type DescMessage,
  type FileRegistry,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import {
  Client,
  credentials,
  Metadata,
  status,
  type ClientDuplexStream,
  type ServiceDefinition,
} from "@grpc/grpc-js";
import * as v1 from "../gen/grpc/reflection/v1/reflection";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection";
import { InventoryServiceService } from "../gen/shop/inventory/v1/inventory";
import { NotificationServiceService } from "../gen/shop/notifications/v1/notifications";
import { OrderServiceService } from "../gen/shop/orders/v1/orders";
import { PaymentServiceService } from "../gen/shop/payments/v1/payments";
import { UserServiceService } from "../gen/shop/users/v1/users";
import {
  openStore,
  silentLogger,
  StatusError,
  type ServiceHandlers,
  type Store,
  type UnaryHandler,
} from "../mesh";
import { migrations } from "../services/users/migrations";
import { createUsersService } from "../services/users/service";
import { createUsersStore } from "../services/users/store";
import { DESCRIPTOR_SET_FILE, loadDescriptors, projectRoot } from "../mesh/config";
import { startTestServer, type TestServer } from "./support";

// The v1 and v1alpha messages are the same on the wire; the v1 types describe both.
type Request = v1.ServerReflectionRequest;
type Response = v1.ServerReflectionResponse;

const SHOP_SERVICES: Record<string, ServiceDefinition> = {
  "shop.users.v1.UserService": UserServiceService,
  "shop.inventory.v1.InventoryService": InventoryServiceService,
  "shop.payments.v1.PaymentService": PaymentServiceService,
  "shop.orders.v1.OrderService": OrderServiceService,
  "shop.notifications.v1.NotificationService": NotificationServiceService,
};

/** Handlers that answer UNIMPLEMENTED: reflection needs only the definitions. */
function unimplemented<S extends ServiceDefinition>(definition: S): ServiceHandlers<S> {
  const handlers: Record<string, UnaryHandler<unknown, unknown>> = {};
  for (const key of Object.keys(definition)) {
    handlers[key] = () => Promise.reject(new StatusError(status.UNIMPLEMENTED, "stub"));
  }
  return handlers as ServiceHandlers<S>;
}

/**
 * One ServerReflectionInfo stream, used the way grpcurl uses it: one request at a time, each
 * answered in order on the same stream.
 */
class ReflectionSession {
  private readonly waiting: { resolve(r: Response): void; reject(e: Error): void }[] = [];

  constructor(private readonly stream: ClientDuplexStream<Request, Response>) {
    stream.on("data", (response: Response) => this.waiting.shift()?.resolve(response));
    stream.on("error", (err: Error) => {
      for (const waiter of this.waiting.splice(0)) waiter.reject(err);
    });
  }

  ask(request: Partial<Request>): Promise<Response> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stream.write({ host: "", ...request });
    });
  }

  /** The FileDescriptorProtos of an answer, decoded; fails the test on an error answer. */
  async files(request: Partial<Request>): Promise<FileDescriptorProto[]> {
    const response = await this.ask(request);
    expect(response.errorResponse).toBeUndefined();
    return response.fileDescriptorResponse!.fileDescriptorProto.map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
  }

  end(): void {
    this.stream.end();
  }
}

/**
 * What grpcurl does before `describe` or an invocation: list the services, fetch the file of
 * each, then every imported file by name until nothing is missing.
 */
async function crawl(
  session: ReflectionSession,
): Promise<{ services: string[]; registry: FileRegistry }> {
  const listed = await session.ask({ listServices: "" });
  const services = listed.listServicesResponse!.service.map((s) => s.name);
  const files = new Map<string, FileDescriptorProto>();
  const keep = (protos: FileDescriptorProto[]): void => protos.forEach((p) => files.set(p.name, p));

  for (const service of services) keep(await session.files({ fileContainingSymbol: service }));
  // Ask for every import by name, even those already sent along, to exercise file_by_filename.
  const asked = new Set<string>();
  let pending = [...files.values()].flatMap((f) => f.dependency);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (asked.has(name)) continue;
    asked.add(name);
    const protos = await session.files({ fileByFilename: name });
    expect(protos[0].name).toBe(name);
    keep(protos);
    pending = pending.concat(protos.flatMap((p) => p.dependency));
  }
  // Throws if any import or any referenced type is missing.
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: importsFirst(files) }),
  );
  return { services, registry };
}

/** Files ordered so that each comes after what it imports, as a FileDescriptorSet wants. */
function importsFirst(files: Map<string, FileDescriptorProto>): FileDescriptorProto[] {
  const ordered = new Map<string, FileDescriptorProto>();
  const visit = (file: FileDescriptorProto): void => {
    if (ordered.has(file.name)) return;
    for (const dep of file.dependency) {
      const imported = files.get(dep);
      if (!imported) throw new Error(`${file.name} imports ${dep}, which reflection did not serve`);
      visit(imported);
    }
    ordered.set(file.name, file);
  };
  files.forEach(visit);
  return [...ordered.values()];
}

/** The message type a field refers to, if it holds messages (singly, in a list, or a map). */
function messageOf(field: DescField): DescMessage | undefined {
  if (field.fieldKind === "message") return field.message;
  if (field.fieldKind === "list" && field.listKind === "message") return field.message;
  if (field.fieldKind === "map" && field.mapKind === "message") return field.message;
  return undefined;
}

/** Every message type reachable from `root`, each checked to be fully described. */
function reachableTypes(registry: FileRegistry, root: DescMessage): Set<string> {
  const seen = new Set<string>();
  const visit = (message: DescMessage): void => {
    if (seen.has(message.typeName)) return;
    expect(registry.getMessage(message.typeName)).toBe(message);
    seen.add(message.typeName);
    for (const field of message.fields) {
      if (field.enum) expect(registry.getEnum(field.enum.typeName)).toBe(field.enum);
      const type = messageOf(field);
      if (type) visit(type);
    }
  };
  visit(root);
  return seen;
}

describe("server reflection, as grpcurl uses it", () => {
  let store: Store;
  let server: TestServer;
  let client: Client;
  let session: ReflectionSession;

  beforeEach(async () => {
    store = await openStore({ file: ":memory:", migrations, log: silentLogger() });
    server = await startTestServer((s) => {
      s.addService(UserServiceService, createUsersService({ store: createUsersStore(store) }));
      s.addService(InventoryServiceService, unimplemented(InventoryServiceService));
      s.addService(PaymentServiceService, unimplemented(PaymentServiceService));
      s.addService(OrderServiceService, unimplemented(OrderServiceService));
      s.addService(NotificationServiceService, unimplemented(NotificationServiceService));
    });
    client = new v1.ServerReflectionClient(server.address, credentials.createInsecure());
    session = new ReflectionSession((client as v1.ServerReflectionClient).serverReflectionInfo());
  });
  afterEach(async () => {
    session.end();
    client.close();
    await server.close();
    await store.close();
  });

  it("lists the shop services, health, and both reflection services", async () => {
    const response = await session.ask({ listServices: "*" });

    expect(response.listServicesResponse!.service.map((s) => s.name).sort()).toEqual([
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "shop.inventory.v1.InventoryService",
      "shop.notifications.v1.NotificationService",
      "shop.orders.v1.OrderService",
      "shop.payments.v1.PaymentService",
      "shop.users.v1.UserService",
    ]);
    expect(response.originalRequest).toEqual({ host: "", listServices: "*" });
  });

  it("describes every listed service in files whose imports are all served", async () => {
    const { services, registry } = await crawl(session);

    for (const name of services) expect(registry.getService(name)).toBeDefined();
    expect(registry.getFile("google/protobuf/timestamp.proto")).toBeDefined();
    expect(registry.getFile("shop/common/v1/common.proto")).toBeDefined();
  });

  it("resolves the input and output of every shop method through every message field", async () => {
    const { registry } = await crawl(session);

    for (const [serviceName, definition] of Object.entries(SHOP_SERVICES)) {
      const service = registry.getService(serviceName)!;
      const served = Object.values(definition).map((m) => m.path);
      expect(service.methods.map((m) => `/${serviceName}/${m.name}`).sort()).toEqual(served.sort());
      for (const method of service.methods) {
        reachableTypes(registry, method.input);
        reachableTypes(registry, method.output);
      }
    }
  });

  it("describes imported types in full: Timestamp from the well-known types, Money from common", async () => {
    const { registry } = await crawl(session);
    const types = (service: string, method: string): Set<string> => {
      const m = registry.getService(service)!.methods.find((x) => x.name === method)!;
      return new Set([...reachableTypes(registry, m.input), ...reachableTypes(registry, m.output)]);
    };

    expect(types("shop.users.v1.UserService", "GetUser")).toContain("google.protobuf.Timestamp");
    expect([...types("shop.orders.v1.OrderService", "PlaceOrder")]).toEqual(
      expect.arrayContaining([
        "shop.common.v1.LineItem",
        "shop.common.v1.Money",
        "shop.orders.v1.Order",
        "shop.orders.v1.OrderItem",
        "google.protobuf.Timestamp",
      ]),
    );
    expect(types("shop.payments.v1.PaymentService", "Charge")).toContain("shop.common.v1.Money");
    expect(types("shop.inventory.v1.InventoryService", "ListProducts")).toContain(
      "shop.common.v1.Money",
    );
    const timestamp = registry.getMessage("google.protobuf.Timestamp")!;
    expect(timestamp.file.proto.name).toBe("google/protobuf/timestamp.proto");
    expect(timestamp.fields.map((f) => f.name)).toEqual(["seconds", "nanos"]);
    const money = registry.getMessage("shop.common.v1.Money")!;
    expect(money.file.proto.name).toBe("shop/common/v1/common.proto");
    expect(money.fields.map((f) => f.name)).toEqual(["currency_code", "units", "nanos"]);
  });

  it("serves descriptors that encode and decode real calls, as grpcurl's dynamic messages do", async () => {
    const { registry } = await crawl(session);
    const method = registry
      .getService("shop.users.v1.UserService")!
      .methods.find((m) => m.name === "CreateUser")!;
    const raw = (b: Buffer): Buffer => b;

    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        "/shop.users.v1.UserService/CreateUser",
        raw,
        raw,
        Buffer.from(
          toBinary(
            method.input,
            create(method.input, { email: "ada@example.com", displayName: "Ada" }),
          ),
        ),
        new Metadata(),
        { deadline: Date.now() + 5_000 },
        (err, response) => (err ? reject(err) : resolve(response!)),
      ),
    );

    const reply = fromBinary(method.output, bytes) as unknown as {
      user: { email: string; displayName: string; createTime: { seconds: bigint } };
    };
    expect(reply.user).toMatchObject({ email: "ada@example.com", displayName: "Ada" });
    expect(Number(reply.user.createTime.seconds)).toBeGreaterThan(1_600_000_000);
  });

  it("finds the file of a method, a field, a nested (map entry) type, its field, and an enum value", async () => {
    const fileOf = async (symbol: string): Promise<string> =>
      (await session.files({ fileContainingSymbol: symbol }))[0].name;

    expect(await fileOf("shop.orders.v1.OrderService.PlaceOrder")).toBe(
      "shop/orders/v1/orders.proto",
    );
    expect(await fileOf("shop.orders.v1.Order.total")).toBe("shop/orders/v1/orders.proto");
    expect(await fileOf("grpc.health.v1.HealthListResponse.StatusesEntry")).toBe(
      "grpc/health/v1/health.proto",
    );
    expect(await fileOf("grpc.health.v1.HealthListResponse.StatusesEntry.value")).toBe(
      "grpc/health/v1/health.proto",
    );
    expect(await fileOf("google.protobuf.Timestamp.seconds")).toBe(
      "google/protobuf/timestamp.proto",
    );
    // Enum values are named as siblings of their enum, as protoc scopes them.
    expect(await fileOf("shop.orders.v1.ORDER_STATUS_CONFIRMED")).toBe(
      "shop/orders/v1/orders.proto",
    );
  });

  it("sends a file followed by its imports in one answer", async () => {
    const protos = await session.files({ fileContainingSymbol: "shop.orders.v1.OrderService" });

    expect(protos.map((p) => p.name)).toEqual([
      "shop/orders/v1/orders.proto",
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/timestamp.proto",
      "shop/api/v1/field.proto",
      "shop/common/v1/common.proto",
    ]);
  });

  it("serves each file as the compiler wrote it, comments included, as grpcurl describe shows them", async () => {
    const answer = await session.ask({ fileByFilename: "shop/orders/v1/orders.proto" });
    const served = answer.fileDescriptorResponse!.fileDescriptorProto[0];
    const compiled = fromBinary(
      FileDescriptorSetSchema,
      readFileSync(join(projectRoot(), DESCRIPTOR_SET_FILE)),
    ).file.find((f) => f.name === "shop/orders/v1/orders.proto")!;

    expect(fromBinary(FileDescriptorProtoSchema, served)).toEqual(compiled);
    // Comments on the method (service 0, method 1 in source info paths).
    const placeOrder = compiled.service[0].method.findIndex((m) => m.name === "PlaceOrder");
    const comment = compiled.sourceCodeInfo!.location.find(
      (l) => l.path.join(",") === `6,0,2,${placeOrder}`,
    )?.leadingComments;
    expect(comment).toContain("another user's id answers PERMISSION_DENIED");
    // While the server's own decoded copy keeps none (1.5 MB of heap in every member).
    const own = loadDescriptors().registry.getFile("shop/orders/v1/orders.proto")!;
    expect(own.proto.sourceCodeInfo).toBeUndefined();
    expect(own.proto.service[0].method.map((m) => m.name)).toEqual(
      compiled.service[0].method.map((m) => m.name),
    );
  });

  it("answers NOT_FOUND for an unknown symbol or file, and the stream stays usable", async () => {
    const symbol = await session.ask({ fileContainingSymbol: "shop.users.v1.NoSuchService" });
    const file = await session.ask({ fileByFilename: "shop/nothing.proto" });
    const method = await session.ask({
      fileContainingSymbol: "shop.users.v1.UserService.NoSuchMethod",
    });

    expect(symbol.errorResponse).toEqual({
      errorCode: status.NOT_FOUND,
      errorMessage: "symbol shop.users.v1.NoSuchService not found",
    });
    expect(file.errorResponse).toEqual({
      errorCode: status.NOT_FOUND,
      errorMessage: "file shop/nothing.proto not found",
    });
    expect(method.errorResponse?.errorCode).toBe(status.NOT_FOUND);
    expect((await session.ask({ listServices: "" })).listServicesResponse!.service.length).toBe(8);
  });

  it("answers the extension numbers of a known type (none) and NOT_FOUND for an unknown type", async () => {
    const known = await session.ask({ allExtensionNumbersOfType: "shop.common.v1.Money" });
    const unknown = await session.ask({ allExtensionNumbersOfType: "shop.common.v1.Nope" });

    expect(known.allExtensionNumbersResponse).toEqual({
      baseTypeName: "shop.common.v1.Money",
      extensionNumber: [],
    });
    expect(unknown.errorResponse?.errorCode).toBe(status.NOT_FOUND);
  });

  it("serves the same answers on v1alpha, for older clients", async () => {
    const alpha = new v1alpha.ServerReflectionClient(server.address, credentials.createInsecure());
    const alphaSession = new ReflectionSession(alpha.serverReflectionInfo());
    try {
      const { services, registry } = await crawl(alphaSession);

      expect(services).toContain("shop.orders.v1.OrderService");
      const placeOrder = registry
        .getService("shop.orders.v1.OrderService")!
        .methods.find((m) => m.name === "PlaceOrder")!;
      expect(reachableTypes(registry, placeOrder.output)).toContain("shop.common.v1.Money");
    } finally {
      alphaSession.end();
      alpha.close();
    }
  });
});
