import type { DescFile } from "@bufbuild/protobuf";
import type { Descriptors } from "../../../mesh/config";
import type { DescriptorProto, EnumDescriptorProto, SourceCodeInfo } from "@bufbuild/protobuf/wkt";

/** Leading comments of a contract's declarations, by fully-qualified name. */
export interface Comments {
  get(name: string): string | undefined;
}

/** No comments: schemas without descriptions. */
export const NO_COMMENTS: Comments = { get: () => undefined };

// Field numbers in google/protobuf/descriptor.proto, which source info paths are made of.
const FILE_MESSAGE = 4;
const FILE_ENUM = 5;
const FILE_SERVICE = 6;
const MESSAGE_FIELD = 2;
const MESSAGE_NESTED = 3;
const MESSAGE_ENUM = 4;
const ENUM_VALUE = 2;
const SERVICE_METHOD = 2;

/** `// A line.\n// Another.` as the compiler keeps it → "A line.\nAnother." */
const clean = (comment: string): string =>
  comment
    .split("\n")
    .map((line) => line.replace(/^ /, "").trimEnd())
    .join("\n")
    .trim();

/**
 * The leading comments of every message, field, enum, enum value, service and method of
 * `file`, from its source info (which `npm run codegen` keeps in the descriptor set), by
 * name: `shop.orders.v1.Order`, `shop.orders.v1.Order.order_id`,
 * `shop.orders.v1.OrderService.PlaceOrder`.
 */
function commentsOf(file: DescFile, sourceInfo: SourceCodeInfo | undefined): Map<string, string> {
  const comments = new Map<string, string>();
  const byPath = new Map<string, string>();
  for (const location of sourceInfo?.location ?? []) {
    const text = clean(location.leadingComments ?? "");
    if (text) byPath.set(location.path.join(","), text);
  }
  const note = (name: string, path: number[]): void => {
    const text = byPath.get(path.join(","));
    if (text) comments.set(name, text);
  };
  const addEnum = (e: EnumDescriptorProto, scope: string, path: number[]): void => {
    note(scope + e.name, path);
    e.value.forEach((v, i) => note(`${scope}${e.name}.${v.name}`, [...path, ENUM_VALUE, i]));
  };
  const addMessage = (m: DescriptorProto, scope: string, path: number[]): void => {
    const name = scope + m.name;
    note(name, path);
    m.field.forEach((f, i) => note(`${name}.${f.name}`, [...path, MESSAGE_FIELD, i]));
    m.nestedType.forEach((n, i) => addMessage(n, `${name}.`, [...path, MESSAGE_NESTED, i]));
    m.enumType.forEach((e, i) => addEnum(e, `${name}.`, [...path, MESSAGE_ENUM, i]));
  };
  const scope = file.proto.package ? `${file.proto.package}.` : "";
  file.proto.messageType.forEach((m, i) => addMessage(m, scope, [FILE_MESSAGE, i]));
  file.proto.enumType.forEach((e, i) => addEnum(e, scope, [FILE_ENUM, i]));
  file.proto.service.forEach((s, i) => {
    note(scope + s.name, [FILE_SERVICE, i]);
    s.method.forEach((m, j) =>
      note(`${scope}${s.name}.${m.name}`, [FILE_SERVICE, i, SERVICE_METHOD, j]),
    );
  });
  return comments;
}

/**
 * The contracts' comments, each file's source info decoded when one of its names is first
 * asked for: the REST API documents only the shop's own files, and decoding
 * google/protobuf/descriptor.proto's source info (79 KB) as well was most of what the comments
 * cost the gateway's start.
 */
export function lazyComments(
  descriptors: Pick<Descriptors, "fileContainingSymbol" | "sourceInfo">,
): Comments {
  const byFile = new Map<DescFile, Map<string, string>>();
  return {
    get(name) {
      const file = descriptors.fileContainingSymbol(name);
      if (!file) return undefined;
      let comments = byFile.get(file);
      if (!comments) byFile.set(file, (comments = commentsOf(file, descriptors.sourceInfo(file))));
      return comments.get(name);
    },
  };
}
