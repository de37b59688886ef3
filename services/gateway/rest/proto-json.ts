import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";

/** A JSON object as JSON.parse makes it. */
export type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A field by its JSON name or its proto name, as proto3 JSON parsers accept either. */
export function fieldByAnyName(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.jsonName === name || f.name === name);
}

/**
 * A copy of `value` with every key that is a field's proto name (`user_id`) renamed to its
 * JSON name (`userId`), through nested messages, so that one schema (JSON names) checks both
 * spellings. Keys that are neither are kept, for the schema to refuse by name.
 */
export function withJsonNames(message: DescMessage, value: unknown): unknown {
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, inner] of Object.entries(value)) {
    const field = fieldByAnyName(message, key);
    if (!field) {
      out[key] = inner;
      continue;
    }
    let converted = inner;
    if (field.fieldKind === "message") converted = withJsonNames(field.message, inner);
    else if (field.fieldKind === "list" && field.listKind === "message" && Array.isArray(inner))
      converted = inner.map((item) => withJsonNames(field.message, item));
    else if (field.fieldKind === "map" && field.mapKind === "message" && isObject(inner))
      converted = Object.fromEntries(
        Object.entries(inner).map(([k, v]) => [k, withJsonNames(field.message, v)]),
      );
    out[field.jsonName] = converted;
  }
  return out;
}

/** A text value (query string, path, header) as proto3 JSON has it for `field`. */
export function fromText(field: DescField, text: string): unknown {
  const scalar =
    field.fieldKind === "scalar"
      ? field.scalar
      : field.fieldKind === "list" && field.listKind === "scalar"
        ? field.scalar
        : undefined;
  // Numbers, enums and strings may all be JSON strings; only booleans may not.
  if (scalar === ScalarType.BOOL) return text === "true" ? true : text === "false" ? false : text;
  return text;
}

/** Whether `field` can be a query parameter: a scalar or enum, or a list of them. */
export const isQueryField = (field: DescField): boolean =>
  field.fieldKind === "scalar" ||
  field.fieldKind === "enum" ||
  (field.fieldKind === "list" && field.listKind !== "message");

/**
 * The request fields a query string sets, as proto3 JSON: each parameter named by a field's
 * JSON or proto name (`pageSize`, `page_size`); a repeated field takes the parameter as many
 * times as it has values. Parameters that name no such field are left out.
 */
export function queryJson(
  message: DescMessage,
  query: Record<string, string | string[] | undefined>,
  bound: ReadonlySet<DescField>,
): JsonObject {
  const json: JsonObject = {};
  for (const [name, raw] of Object.entries(query)) {
    const field = fieldByAnyName(message, name);
    if (!field || bound.has(field) || !isQueryField(field) || raw === undefined) continue;
    const values = Array.isArray(raw) ? raw : [raw];
    json[field.jsonName] =
      field.fieldKind === "list"
        ? values.map((v) => fromText(field, v))
        : fromText(field, values[values.length - 1]);
  }
  return json;
}
