import { badRequest, toCamel } from "./http-errors";

/**
 * The subset of JSON Schema (2020-12, as OpenAPI 3.1 uses) the gateway writes its routes in.
 * Request bodies and parameters are checked against it before any call is made, and the same
 * objects go into the OpenAPI document, so the two cannot disagree.
 */
export type Schema =
  | { $ref: string; description?: string }
  | {
      type: "object";
      properties: Record<string, Schema>;
      required?: string[];
      additionalProperties?: false;
      description?: string;
    }
  | {
      type: "string";
      minLength?: number;
      maxLength?: number;
      pattern?: string;
      format?: string;
      enum?: string[];
      description?: string;
    }
  | { type: "integer"; minimum?: number; maximum?: number; format?: string; description?: string }
  | { type: "boolean"; description?: string }
  | { type: "array"; items: Schema; minItems?: number; maxItems?: number; description?: string };

const typeOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value;

/**
 * Checks `value` against `schema` and returns it with snake_case keys renamed to camelCase;
 * throws a 400 naming the first bad field (`items[1].quantity`). `$ref` schemas are not
 * followed: request schemas are written inline.
 */
export function validate(schema: Schema, value: unknown, path: string): unknown {
  if ("$ref" in schema) return value;
  const expected = schema.type;
  const actual = typeOf(value);
  const isInteger = expected === "integer" && Number.isInteger(value);
  if (expected === "integer" ? !isInteger : actual !== expected) {
    throw badRequest(
      path,
      `expected ${expected === "integer" ? "an integer" : `a ${expected}`}, got ${actual}`,
    );
  }
  switch (schema.type) {
    case "object":
      return validateObject(schema, value as Record<string, unknown>, path);
    case "array": {
      const items = value as unknown[];
      if (schema.minItems !== undefined && items.length < schema.minItems)
        throw badRequest(path, `must have at least ${schema.minItems} item(s)`);
      if (schema.maxItems !== undefined && items.length > schema.maxItems)
        throw badRequest(path, `must have at most ${schema.maxItems} items`);
      return items.map((item, i) => validate(schema.items, item, `${path}[${i}]`));
    }
    case "string": {
      const text = value as string;
      if (schema.minLength !== undefined && text.length < schema.minLength)
        throw badRequest(
          path,
          schema.minLength === 1
            ? "must not be empty"
            : `must be at least ${schema.minLength} characters`,
        );
      if (schema.maxLength !== undefined && text.length > schema.maxLength)
        throw badRequest(path, `must be at most ${schema.maxLength} characters`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(text))
        throw badRequest(path, `must match ${schema.pattern}`);
      if (schema.enum && !schema.enum.includes(text))
        throw badRequest(path, `must be one of ${schema.enum.join(", ")}`);
      return text;
    }
    case "integer": {
      const n = value as number;
      if (schema.minimum !== undefined && n < schema.minimum)
        throw badRequest(path, `must be at least ${schema.minimum}`);
      if (schema.maximum !== undefined && n > schema.maximum)
        throw badRequest(path, `must be at most ${schema.maximum}`);
      return n;
    }
    default:
      return value;
  }
}

function validateObject(
  schema: Extract<Schema, { type: "object" }>,
  value: Record<string, unknown>,
  path: string,
): Record<string, unknown> {
  const at = (key: string): string => (path ? `${path}.${key}` : key);
  const result: Record<string, unknown> = {};
  for (const [rawKey, item] of Object.entries(value)) {
    // proto3 JSON parsers accept the proto field name (`user_id`) as well as the JSON name.
    const key = schema.properties[rawKey] ? rawKey : toCamel(rawKey);
    const property = schema.properties[key];
    if (!property) {
      if (schema.additionalProperties === false) throw badRequest(at(rawKey), "unknown field");
      result[rawKey] = item;
      continue;
    }
    result[key] = validate(property, item, at(key));
  }
  for (const key of schema.required ?? []) {
    if (result[key] === undefined) throw badRequest(at(key), "is required");
  }
  return result;
}
