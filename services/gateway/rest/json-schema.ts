import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { Comments } from "./comments";
import type { FieldRules } from "../../../mesh/config";

/** A JSON Schema (draft 2020-12, as OpenAPI 3.1 uses it) as a plain object. */
export type JsonSchema = Record<string, unknown>;

const INT32 = { min: -(2n ** 31n), max: 2n ** 31n - 1n };
const UINT32 = { min: 0n, max: 2n ** 32n - 1n };

/** Formats the gateway's ajv checks on the string form of proto3 JSON integers. */
export const INTEGER_FORMATS = {
  int32: INT32,
  uint32: UINT32,
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  uint64: { min: 0n, max: 2n ** 64n - 1n },
} as const;
export type IntegerFormat = keyof typeof INTEGER_FORMATS;

const INTEGER_FORMAT: Partial<Record<ScalarType, IntegerFormat>> = {
  [ScalarType.INT32]: "int32",
  [ScalarType.SINT32]: "int32",
  [ScalarType.SFIXED32]: "int32",
  [ScalarType.UINT32]: "uint32",
  [ScalarType.FIXED32]: "uint32",
  [ScalarType.INT64]: "int64",
  [ScalarType.SINT64]: "int64",
  [ScalarType.SFIXED64]: "int64",
  [ScalarType.UINT64]: "uint64",
  [ScalarType.FIXED64]: "uint64",
};
const is64 = (format: IntegerFormat): boolean => format === "int64" || format === "uint64";
// Beyond this a JSON number loses integer precision; bigger bounds are left to the string form.
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const asNumber = (n: bigint): number | undefined =>
  n <= SAFE && n >= -SAFE ? Number(n) : undefined;

/** The well-known types' JSON forms (https://protobuf.dev/programming-guides/json/). */
const WELL_KNOWN: Record<string, JsonSchema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?\\d+(\\.\\d{1,9})?s$" },
  "google.protobuf.Empty": { type: "object", additionalProperties: false },
};

/** Which way a schema describes a message: what a client may send, or what it gets back. */
export type Direction = "request" | "response";

/**
 * JSON Schemas of messages in the proto3 JSON mapping (lowerCamelCase names, int64 as
 * strings, enums by name, Timestamp as RFC 3339), with the contract's comments as
 * descriptions and its `shop.api.v1.field` rules as limits.
 *
 * - A **request** schema accepts what a proto3 JSON parser accepts (integers as numbers or
 *   decimal strings, checked against their type's range) within the field rules, and no
 *   unknown field. Messages are inlined: ajv checks it as it stands.
 * - A **response** schema says what the gateway writes; messages are `$ref`s to
 *   {@link SchemaBuilder.components}, for the OpenAPI document.
 */
export class SchemaBuilder {
  /** Response schemas of the messages and enums referred to so far, by full name. */
  readonly components = new Map<string, JsonSchema>();

  constructor(
    private readonly comments: Comments,
    /** The contract's rules of a field (`Descriptors.fieldRules`). */
    private readonly rulesOf: (field: DescField) => FieldRules,
    /** The `$ref` of a component, by full name. */
    private readonly refOf: (typeName: string) => string = (name) => `#/components/schemas/${name}`,
  ) {}

  /** A message's request schema, without the fields in `omit` (bound to path or headers). */
  request(message: DescMessage, omit: ReadonlySet<DescField> = new Set()): JsonSchema {
    return this.object(message, "request", omit, new Set());
  }

  /** A message's response schema: a `$ref` to its component. */
  response(message: DescMessage): JsonSchema {
    return this.messageRef(message, new Set());
  }

  /** One field's request schema (a path, header or query value), with its description. */
  requestField(field: DescField): JsonSchema {
    return this.describe(
      this.field(field, "request", new Set()),
      this.comments.get(fieldName(field)),
    );
  }

  private object(
    message: DescMessage,
    direction: Direction,
    omit: ReadonlySet<DescField>,
    visiting: Set<string>,
  ): JsonSchema {
    const known = WELL_KNOWN[message.typeName];
    if (known) return { ...known };
    if (message.typeName.startsWith("google.protobuf.")) return {};
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    visiting.add(message.typeName);
    for (const field of message.fields) {
      if (omit.has(field)) continue;
      properties[field.jsonName] = this.describe(
        this.field(field, direction, visiting),
        this.comments.get(fieldName(field)),
      );
      if (direction === "request" && this.rulesOf(field).required) {
        required.push(field.jsonName);
      }
    }
    visiting.delete(message.typeName);
    const schema: JsonSchema = { type: "object", properties };
    if (required.length > 0) schema.required = required;
    if (direction === "request") schema.additionalProperties = false;
    return this.describe(schema, this.comments.get(message.typeName));
  }

  private messageRef(message: DescMessage, visiting: Set<string>): JsonSchema {
    const known = WELL_KNOWN[message.typeName];
    if (known) return { ...known };
    if (!this.components.has(message.typeName)) {
      // Set first, so that a message that contains itself refers to itself.
      this.components.set(message.typeName, {});
      this.components.set(message.typeName, this.object(message, "response", new Set(), visiting));
    }
    return { $ref: this.refOf(message.typeName) };
  }

  private field(field: DescField, direction: Direction, visiting: Set<string>): JsonSchema {
    const rules = this.rulesOf(field);
    switch (field.fieldKind) {
      case "list": {
        const items =
          field.listKind === "message"
            ? this.messageSchema(field.message, direction, visiting)
            : field.listKind === "enum"
              ? this.enumSchema(field.enum)
              : this.scalar(field.scalar, direction, rules);
        const schema: JsonSchema = { type: "array", items };
        if (direction === "request") {
          const min = Math.max(rules.minItems ?? 0, rules.required ? 1 : 0);
          if (min > 0) schema.minItems = min;
          if (rules.maxItems !== undefined) schema.maxItems = rules.maxItems;
        }
        return schema;
      }
      case "map": {
        const values =
          field.mapKind === "message"
            ? this.messageSchema(field.message, direction, visiting)
            : field.mapKind === "enum"
              ? this.enumSchema(field.enum)
              : this.scalar(field.scalar, direction, { required: false, httpHeader: "" });
        return { type: "object", additionalProperties: values };
      }
      case "message":
        return this.messageSchema(field.message, direction, visiting);
      case "enum":
        return this.enumSchema(field.enum);
      case "scalar":
        return this.scalar(field.scalar, direction, direction === "request" ? rules : undefined);
    }
  }

  private messageSchema(message: DescMessage, direction: Direction, visiting: Set<string>) {
    if (direction === "response") return this.messageRef(message, visiting);
    if (visiting.has(message.typeName)) return { type: "object" };
    return this.object(message, direction, new Set(), visiting);
  }

  /** Enums by name, as the gateway writes them (numbers are accepted by proto3 JSON too). */
  private enumSchema(e: DescEnum): JsonSchema {
    return this.describe(
      { type: "string", enum: e.values.map((v) => v.name) },
      this.comments.get(e.typeName),
    );
  }

  private scalar(
    type: ScalarType,
    direction: Direction,
    rules: FieldRules | undefined,
  ): JsonSchema {
    const format = INTEGER_FORMAT[type];
    if (format) {
      const range = INTEGER_FORMATS[format];
      if (direction === "response") {
        return is64(format) ? { type: "string", format } : { type: "integer", format };
      }
      // proto3 JSON takes an integer as a number or a decimal string; the string form is
      // checked by the format (its type's range), the number form by minimum and maximum.
      const low =
        rules?.minimum !== undefined && rules.minimum > range.min ? rules.minimum : range.min;
      const high =
        rules?.maximum !== undefined && rules.maximum < range.max ? rules.maximum : range.max;
      const schema: JsonSchema = { type: ["integer", "string"], format };
      const min = asNumber(low);
      const max = asNumber(high);
      if (min !== undefined) schema.minimum = min;
      if (max !== undefined) schema.maximum = max;
      return schema;
    }
    switch (type) {
      case ScalarType.BOOL:
        return { type: "boolean" };
      case ScalarType.FLOAT:
      case ScalarType.DOUBLE:
        // "NaN", "Infinity" and "-Infinity" are strings in proto3 JSON.
        return direction === "request" ? { type: ["number", "string"] } : { type: "number" };
      case ScalarType.BYTES:
        return { type: "string", contentEncoding: "base64" };
      default: {
        const schema: JsonSchema = { type: "string" };
        const min = Math.max(rules?.minLength ?? 0, rules?.required ? 1 : 0);
        if (min > 0) schema.minLength = min;
        if (rules?.maxLength !== undefined) schema.maxLength = rules.maxLength;
        return schema;
      }
    }
  }

  private describe(schema: JsonSchema, description: string | undefined): JsonSchema {
    if (!description || "$ref" in schema) return schema;
    return { ...schema, description };
  }
}

/** A field's full name, as {@link Comments} keys it: `shop.orders.v1.Order.order_id`. */
export const fieldName = (field: DescField): string => `${field.parent.typeName}.${field.name}`;
