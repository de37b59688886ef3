/**
 * `describe`: a symbol as proto source, the way grpcurl prints it (jhump/protoreflect's
 * protoprint with `Compact`, `SortElements`, `ForceFullyQualifiedNames` and doc comments):
 * "<name> is a message:" and the declaration, types written `.pkg.Type`.
 */
import { isFieldSet, ScalarType, type FileRegistry } from "@bufbuild/protobuf";
import type {
  DescEnum,
  DescEnumValue,
  DescField,
  DescFile,
  DescMessage,
  DescMethod,
  DescOneof,
  DescService,
} from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel, MethodOptionsSchema } from "@bufbuild/protobuf/wkt";

const INDENT = "  ";

// Field numbers of descriptor.proto that make up source-code-info paths
// (https://github.com/protocolbuffers/protobuf/blob/main/src/google/protobuf/descriptor.proto).
const PATH = {
  fileMessage: 4,
  fileEnum: 5,
  fileService: 6,
  messageField: 2,
  messageNested: 3,
  messageEnum: 4,
  messageOneof: 8,
  enumValue: 2,
  serviceMethod: 2,
} as const;

type Element =
  DescMessage | DescEnum | DescEnumValue | DescField | DescOneof | DescService | DescMethod;

/** Where `element` sits in its file, as a SourceCodeInfo location path. */
function pathOf(element: Element): number[] {
  switch (element.kind) {
    case "service":
      return [PATH.fileService, element.file.services.indexOf(element)];
    case "rpc":
      return [
        ...pathOf(element.parent),
        PATH.serviceMethod,
        element.parent.methods.indexOf(element),
      ];
    case "message":
      return element.parent
        ? [
            ...pathOf(element.parent),
            PATH.messageNested,
            element.parent.nestedMessages.indexOf(element),
          ]
        : [PATH.fileMessage, element.file.messages.indexOf(element)];
    case "enum":
      return element.parent
        ? [...pathOf(element.parent), PATH.messageEnum, element.parent.nestedEnums.indexOf(element)]
        : [PATH.fileEnum, element.file.enums.indexOf(element)];
    case "enum_value":
      return [...pathOf(element.parent), PATH.enumValue, element.parent.values.indexOf(element)];
    case "field":
      return [
        ...pathOf(element.parent),
        PATH.messageField,
        element.parent.proto.field.indexOf(element.proto),
      ];
    case "oneof":
      return [
        ...pathOf(element.parent),
        PATH.messageOneof,
        element.parent.proto.oneofDecl.indexOf(element.proto),
      ];
  }
}

function fileOf(element: Element): DescFile {
  switch (element.kind) {
    case "rpc":
    case "enum_value":
    case "field":
    case "oneof":
      return fileOf(element.parent);
    default:
      return element.file;
  }
}

/** The element's leading (doc) comment as `//` lines at `indent`. */
function comment(element: Element, indent: string): string[] {
  const path = pathOf(element).join(",");
  const location = fileOf(element).proto.sourceCodeInfo?.location.find(
    (l) => l.path.join(",") === path,
  );
  const text = location?.leadingComments.replace(/\n$/, "");
  return text ? text.split("\n").map((line) => `${indent}//${line}`) : [];
}

const scalarName = (scalar: ScalarType): string => ScalarType[scalar].toLowerCase();

function typeOf(field: DescField): string {
  switch (field.fieldKind) {
    case "scalar":
      return scalarName(field.scalar);
    case "enum":
      return `.${field.enum.typeName}`;
    case "message":
      return `.${field.message.typeName}`;
    case "list":
      return `repeated ${
        field.listKind === "scalar"
          ? scalarName(field.scalar)
          : `.${(field.listKind === "enum" ? field.enum : field.message).typeName}`
      }`;
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalarName(field.scalar)
          : `.${(field.mapKind === "enum" ? field.enum : field.message).typeName}`;
      return `map<${scalarName(field.mapKey)}, ${value}>`;
    }
  }
}

function fieldLines(field: DescField, indent: string): string[] {
  const optional = field.proto.proto3Optional ? "optional " : "";
  return [
    ...comment(field, indent),
    `${indent}${optional}${typeOf(field)} ${field.name} = ${field.number};`,
  ];
}

function enumLines(e: DescEnum, indent: string): string[] {
  const values = [...e.values].sort((a, b) => a.number - b.number);
  return [
    ...comment(e, indent),
    `${indent}enum ${e.name} {`,
    ...values.flatMap((v) => [
      ...comment(v, indent + INDENT),
      `${indent}${INDENT}${v.name} = ${v.number};`,
    ]),
    `${indent}}`,
  ];
}

function messageLines(message: DescMessage, indent: string): string[] {
  const inner = indent + INDENT;
  const byNumber = (a: DescField, b: DescField): number => a.number - b.number;
  const fields = message.fields.filter((f) => f.oneof === undefined).sort(byNumber);
  return [
    ...comment(message, indent),
    `${indent}message ${message.name} {`,
    ...fields.flatMap((f) => fieldLines(f, inner)),
    ...message.oneofs.flatMap((o) => [
      ...comment(o, inner),
      `${inner}oneof ${o.name} {`,
      ...[...o.fields].sort(byNumber).flatMap((f) => fieldLines(f, inner + INDENT)),
      `${inner}}`,
    ]),
    // Map entries are printed as map<…> fields, not as the messages behind them.
    ...message.nestedMessages
      .filter((m) => !m.proto.options?.mapEntry)
      .flatMap((m) => messageLines(m, inner)),
    ...message.nestedEnums.flatMap((e) => enumLines(e, inner)),
    `${indent}}`,
  ];
}

function methodLines(method: DescMethod, indent: string): string[] {
  const streams = (kinds: string[]): string => (kinds.includes(method.methodKind) ? "stream " : "");
  const input = `${streams(["client_streaming", "bidi_streaming"])}.${method.input.typeName}`;
  const output = `${streams(["server_streaming", "bidi_streaming"])}.${method.output.typeName}`;
  const head = `${indent}rpc ${method.name} ( ${input} ) returns ( ${output} )`;
  const options = method.proto.options;
  const set: string[] = [];
  if (options && isFieldSet(options, MethodOptionsSchema.field.deprecated))
    set.push(`option deprecated = ${options.deprecated};`);
  if (options && isFieldSet(options, MethodOptionsSchema.field.idempotencyLevel))
    set.push(
      `option idempotency_level = ${MethodOptions_IdempotencyLevel[options.idempotencyLevel]};`,
    );
  return [
    ...comment(method, indent),
    ...(set.length === 0
      ? [`${head};`]
      : [`${head} {`, ...set.map((line) => `${indent}${INDENT}${line}`), `${indent}}`]),
  ];
}

function serviceLines(service: DescService): string[] {
  const methods = [...service.methods].sort((a, b) => a.name.localeCompare(b.name));
  return [
    ...comment(service, ""),
    `service ${service.name} {`,
    ...methods.flatMap((m) => methodLines(m, INDENT)),
    "}",
  ];
}

/** What `symbol` (a fully-qualified name, with or without a leading dot) names in `registry`. */
function find(registry: FileRegistry, symbol: string): Element | undefined {
  const type = registry.get(symbol);
  if (type && type.kind !== "extension") return type;
  const dot = symbol.lastIndexOf(".");
  const [scope, name] = [symbol.slice(0, dot), symbol.slice(dot + 1)];
  const parent = registry.get(scope);
  if (parent?.kind === "service") return parent.methods.find((m) => m.name === name);
  if (parent?.kind === "message")
    return parent.fields.find((f) => f.name === name) ?? parent.oneofs.find((o) => o.name === name);
  // Enum values are scoped as siblings of their enum (C++ scoping), as protoc names them.
  for (const t of registry) {
    if (t.kind !== "enum") continue;
    const enumScope = t.typeName.slice(0, t.typeName.lastIndexOf("."));
    const value = enumScope === scope ? t.values.find((v) => v.name === name) : undefined;
    if (value) return value;
  }
  return undefined;
}

const WHAT: Record<Element["kind"], string> = {
  service: "a service",
  rpc: "a method",
  message: "a message",
  enum: "an enum",
  enum_value: "an enum value",
  field: "a field",
  oneof: "a one-of",
};

/** grpcurl's description of `symbol`, or undefined when the registry has no such symbol. */
export function describeSymbol(registry: FileRegistry, symbol: string): string | undefined {
  const name = symbol.startsWith(".") ? symbol.slice(1) : symbol;
  const element = find(registry, name);
  if (!element) return undefined;
  let lines: string[];
  switch (element.kind) {
    case "service":
      lines = serviceLines(element);
      break;
    case "rpc":
      lines = methodLines(element, "");
      break;
    case "message":
      lines = messageLines(element, "");
      break;
    case "enum":
      lines = enumLines(element, "");
      break;
    case "enum_value":
      lines = [...comment(element, ""), `${element.name} = ${element.number};`];
      break;
    case "field":
      lines = fieldLines(element, "");
      break;
    case "oneof":
      lines = [
        `oneof ${element.name} {`,
        ...element.fields.flatMap((f) => fieldLines(f, INDENT)),
        "}",
      ];
      break;
  }
  return `${name} is ${WHAT[element.kind]}:\n${lines.join("\n")}`;
}
