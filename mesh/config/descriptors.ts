import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  create,
  createFileRegistry,
  fromBinary,
  getExtension,
  hasExtension,
  type DescField,
  type DescFile,
  type DescMethod,
  type FileRegistry,
} from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptions_IdempotencyLevel,
  type DescriptorProto,
  type EnumDescriptorProto,
  type SourceCodeInfo,
} from "@bufbuild/protobuf/wkt";
import { projectRoot } from "./paths";

/**
 * What a request field accepts, from its `shop.api.v1.field` option
 * (proto/shop/api/v1/field.proto): stated once in the contract, read by the services'
 * validation and the REST gateway's schemas alike.
 */
export interface FieldRules {
  required: boolean;
  minLength?: number;
  maxLength?: number;
  minimum?: bigint;
  maximum?: bigint;
  minItems?: number;
  maxItems?: number;
  /** Over HTTP/JSON the field is this request header ("" for none). */
  httpHeader: string;
}

/** How a method may be repeated, from its `idempotency_level` option. */
export type Idempotency = "no-side-effects" | "idempotent" | "unknown";

// Field numbers in google/protobuf/descriptor.proto: FileDescriptorSet.file and
// FileDescriptorProto.source_code_info.
const SET_FILE = 1;
const FILE_SOURCE_CODE_INFO = 9;

/** Each field of a message's encoding, as the bytes of its tag and value. */
function* encodedFields(bytes: Uint8Array): Generator<{ number: number; bytes: Uint8Array }> {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const [number, wireType] = reader.tag();
    reader.skip(wireType, number);
    yield { number, bytes: bytes.subarray(start, reader.pos) };
  }
}

/** Each FileDescriptorProto of an encoded FileDescriptorSet, still encoded. */
function encodedFiles(set: Uint8Array): Uint8Array[] {
  const files: Uint8Array[] = [];
  const reader = new BinaryReader(set);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number === SET_FILE && wireType === WireType.LengthDelimited) files.push(reader.bytes());
    else reader.skip(wireType, number);
  }
  return files;
}

/** An encoded FileDescriptorProto without its source info (comments and positions). */
function withoutSourceInfo(file: Uint8Array): Uint8Array {
  const kept = [...encodedFields(file)].filter((f) => f.number !== FILE_SOURCE_CODE_INFO);
  return Buffer.concat(kept.map((f) => f.bytes));
}

/**
 * The compiled contracts (`gen/descriptor-set.binpb`, written by `npm run codegen`): what
 * reflection serves, and where the mesh learns which methods are safe to retry.
 *
 * The files are decoded without their source info, the comments and positions `npm run
 * codegen` keeps for reflection and the gateway's OpenAPI: 126 of the set's 158 KB, and decoded
 * they were 1.5 MB of every member's heap and 30 ms of its start (docs/BENCHMARKS.md,
 * section f). Reflection answers with each file's bytes as the compiler wrote them, comments
 * included; {@link sourceInfo} decodes one file's when it is asked for.
 */
export class Descriptors {
  /** Every file, message, enum, service and extension of the set (@bufbuild/protobuf). */
  readonly registry: FileRegistry;
  /** Each file's FileDescriptorProto as the compiler encoded it, by its name with `.proto`. */
  private readonly encoded = new Map<string, Uint8Array>();
  private symbols: Map<string, DescFile> | undefined;

  constructor(bytes: Uint8Array) {
    const files = encodedFiles(bytes);
    const protos = files.map((file) =>
      fromBinary(FileDescriptorProtoSchema, withoutSourceInfo(file)),
    );
    protos.forEach((proto, i) => this.encoded.set(proto.name, files[i]));
    this.registry = createFileRegistry(create(FileDescriptorSetSchema, { file: protos }));
  }

  /**
   * The file that declares a fully-qualified symbol: a service, method, message (map entries
   * included), field, oneof, enum or enum value, named as protoc names them. Enum values are
   * siblings of their enum (`shop.orders.v1.ORDER_STATUS_CONFIRMED`), as in C++ scoping.
   */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    return this.symbolIndex().get(symbol.startsWith(".") ? symbol.slice(1) : symbol);
  }

  // Built from the FileDescriptorProtos rather than the registry, which leaves out map
  // entries and does not name enum values the way reflection clients ask for them.
  private symbolIndex(): Map<string, DescFile> {
    if (this.symbols) return this.symbols;
    const index = new Map<string, DescFile>();
    for (const file of this.registry.files) {
      const add = (name: string): void => void index.set(name, file);
      const addEnum = (e: EnumDescriptorProto, scope: string): void => {
        add(scope + e.name);
        for (const value of e.value) add(scope + value.name);
      };
      const addMessage = (m: DescriptorProto, scope: string): void => {
        const inner = `${scope}${m.name}.`;
        add(scope + m.name);
        for (const member of [...m.field, ...m.oneofDecl, ...m.extension]) add(inner + member.name);
        for (const nested of m.nestedType) addMessage(nested, inner);
        for (const e of m.enumType) addEnum(e, inner);
      };
      const scope = file.proto.package ? `${file.proto.package}.` : "";
      for (const m of file.proto.messageType) addMessage(m, scope);
      for (const e of file.proto.enumType) addEnum(e, scope);
      for (const x of file.proto.extension) add(scope + x.name);
      for (const service of file.proto.service) {
        add(scope + service.name);
        for (const method of service.method) add(`${scope}${service.name}.${method.name}`);
      }
    }
    return (this.symbols = index);
  }

  /** The file with this name, for example `shop/common/v1/common.proto`. */
  fileByName(filename: string): DescFile | undefined {
    return this.registry.getFile(filename);
  }

  /** The file's FileDescriptorProto as the compiler encoded it, source info included. */
  encode(file: DescFile): Uint8Array {
    const bytes = this.encoded.get(file.proto.name);
    if (!bytes) throw new Error(`${file.proto.name} is not a file of this descriptor set`);
    return bytes;
  }

  /** The file's source info (its comments), decoded anew at each call; none if it has none. */
  sourceInfo(file: DescFile): SourceCodeInfo | undefined {
    return fromBinary(FileDescriptorProtoSchema, this.encode(file)).sourceCodeInfo;
  }

  /** A file followed by every file it depends on, each once. */
  withDependencies(file: DescFile): DescFile[] {
    const seen = new Map<string, DescFile>();
    const visit = (f: DescFile): void => {
      if (seen.has(f.name)) return;
      seen.set(f.name, f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return [...seen.values()];
  }

  /** A method by its path, `/package.Service/Method`. */
  method(path: string): DescMethod | undefined {
    const match = /^\/([^/]+)\/([^/]+)$/.exec(path);
    if (!match) return undefined;
    const service = this.registry.getService(match[1]);
    return service?.methods.find((m) => m.name === match[2]);
  }

  /** Every method of a service, by fully-qualified service name. */
  methods(serviceName: string): DescMethod[] {
    return this.registry.getService(serviceName)?.methods ?? [];
  }

  /** A field's `shop.api.v1.field` rules; defaults (nothing required) when it has none. */
  fieldRules(field: DescField): FieldRules {
    const extension = this.registry.getExtension("shop.api.v1.field");
    const options = field.proto.options;
    if (!extension || !options || !hasExtension(options, extension)) {
      return { required: false, httpHeader: "" };
    }
    // Decoded as a shop.api.v1.FieldRules message (its int64 limits as bigint).
    const value: unknown = getExtension(options, extension);
    const rules = value as FieldRules & { minimum?: bigint | number; maximum?: bigint | number };
    return {
      ...rules,
      minimum: rules.minimum === undefined ? undefined : BigInt(rules.minimum),
      maximum: rules.maximum === undefined ? undefined : BigInt(rules.maximum),
    };
  }

  /**
   * The rules of `field` (its proto name) of message `typeName`.
   *
   * @throws Error naming the field when the contract has no such field.
   */
  fieldRulesOf(typeName: string, field: string): FieldRules {
    const found = this.registry.getMessage(typeName)?.fields.find((f) => f.name === field);
    if (!found) throw new Error(`the contracts have no field ${typeName}.${field}`);
    return this.fieldRules(found);
  }

  /** Whether a method may be repeated without changing the outcome. */
  idempotency(path: string): Idempotency {
    switch (this.method(path)?.idempotency) {
      case MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS:
        return "no-side-effects";
      case MethodOptions_IdempotencyLevel.IDEMPOTENT:
        return "idempotent";
      default:
        return "unknown";
    }
  }
}

let shared: Descriptors | undefined;

/** The descriptor set `npm run codegen` writes, relative to the project root. */
export const DESCRIPTOR_SET_FILE = "gen/descriptor-set.binpb";

/** The project's descriptor set, read once per process. */
export function loadDescriptors(): Descriptors {
  return (shared ??= new Descriptors(readFileSync(join(projectRoot(), DESCRIPTOR_SET_FILE))));
}
