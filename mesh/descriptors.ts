import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescFile,
  type DescMethod,
  type FileRegistry,
} from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptions_IdempotencyLevel,
} from "@bufbuild/protobuf/wkt";
import { projectRoot } from "./paths";

/** How a method may be repeated, from its `idempotency_level` option. */
export type Idempotency = "no-side-effects" | "idempotent" | "unknown";

/**
 * The compiled contracts (`gen/descriptor-set.binpb`, written by `npm run codegen`): what
 * reflection serves, and where the mesh learns which methods are safe to retry.
 */
export class Descriptors {
  private readonly registry: FileRegistry;
  private readonly encoded = new Map<string, Uint8Array>();

  constructor(bytes: Uint8Array) {
    this.registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  }

  /** The file that declares a fully-qualified symbol (service, method, message, enum, field). */
  fileContainingSymbol(symbol: string): DescFile | undefined {
    const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
    const desc = this.registry.get(name);
    if (desc) return desc.file;
    // A method, field or enum value: look up what contains it.
    const dot = name.lastIndexOf(".");
    if (dot < 0) return undefined;
    const parent = this.registry.get(name.slice(0, dot));
    if (!parent) return undefined;
    const member = name.slice(dot + 1);
    const found =
      (parent.kind === "service" && parent.methods.some((m) => m.name === member)) ||
      (parent.kind === "message" && parent.fields.some((f) => f.name === member)) ||
      (parent.kind === "enum" && parent.values.some((v) => v.name === member));
    return found ? parent.file : undefined;
  }

  /** The file with this name, for example `shop/common/v1/common.proto`. */
  fileByName(filename: string): DescFile | undefined {
    return this.registry.getFile(filename);
  }

  /** The file's FileDescriptorProto, serialized (cached). */
  encode(file: DescFile): Uint8Array {
    let bytes = this.encoded.get(file.name);
    if (!bytes) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      this.encoded.set(file.name, bytes);
    }
    return bytes;
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

/** The project's descriptor set, read once per process. */
export function loadDescriptors(): Descriptors {
  return (shared ??= new Descriptors(
    readFileSync(join(projectRoot(), "gen", "descriptor-set.binpb")),
  ));
}
