import type { DescService } from "@bufbuild/protobuf";
import type { Comments } from "./comments";
import type { RestMethod } from "./contract";
import type { JsonSchema, SchemaBuilder } from "./json-schema";
import { requestSchemas } from "./routes";

/** Error statuses every operation may answer, besides its own (see README, REST gateway). */
const ERRORS: Record<string, string> = {
  "400":
    "A field is missing or wrong (named in the message and a google.rpc.BadRequest detail), or the state forbids it",
  "401": "No, or a bad, bearer token",
  "403": "The token's user may not do this",
  "404": "Not found, or not the token's user's",
  "409": "Already exists, or the same idempotency key with a different request",
  "413": "The body is too large",
  "415": "The body is not application/json",
  "429": "Too many requests; see Retry-After",
  "500": "A bug; the message gives the trace id it was logged under",
  "503": "A service is down or the order is pending; retry (with the same idempotency key)",
  "504": "The time budget (Request-Timeout) ran out",
};

const ERROR_SCHEMA: JsonSchema = {
  type: "object",
  description:
    "google.rpc.Status as Google's HTTP APIs write it (https://cloud.google.com/apis/design/errors).",
  properties: {
    error: {
      type: "object",
      properties: {
        code: { type: "integer", description: "The HTTP status" },
        status: { type: "string", description: "The gRPC code's name" },
        message: { type: "string" },
        details: {
          type: "array",
          items: { type: "object" },
          description:
            "google.rpc.BadRequest for bad fields; google.rpc.RequestInfo whose requestId is the trace id",
        },
      },
      required: ["code", "status", "message", "details"],
    },
  },
  required: ["error"],
};

/** `PlaceOrder` → `placeOrder`: the operationId. */
const operationId = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);
/** The first sentence of a comment, for the summary. */
const firstSentence = (text: string): string =>
  /^[^]*?\.(?=\s|$)/.exec(text)?.[0].replace(/\s+/g, " ") ?? text;

/** Path, header and query parameters of an operation, from its request schemas. */
function parametersOf(rest: RestMethod, schemas: Record<string, JsonSchema>): JsonSchema[] {
  const parameters: JsonSchema[] = [];
  const add = (
    where: "path" | "header" | "query",
    schema: JsonSchema | undefined,
    required: string[],
  ) => {
    const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
    const seen = new Set<JsonSchema>();
    for (const [name, property] of Object.entries(properties)) {
      // Both spellings of a query name share one schema; the JSON name is listed.
      if (seen.has(property)) continue;
      seen.add(property);
      const { description, ...rest } = property;
      parameters.push({
        name,
        in: where,
        required: where === "path" || required.includes(name),
        ...(description ? { description } : {}),
        schema: rest,
      });
    }
  };
  add(
    "path",
    schemas.params,
    rest.pathFields.map((b) => b.name),
  );
  add("header", schemas.headers, (schemas.headers?.required ?? []) as string[]);
  add("query", schemas.querystring, []);
  return parameters;
}

/** Options for {@link openApiDocument}. */
export interface OpenApiOptions {
  methods: readonly RestMethod[];
  builder: SchemaBuilder;
  comments: Comments;
  /** Defaults to "grpc-shop-mesh". */
  title?: string;
  version?: string;
}

/**
 * The OpenAPI 3.1 document of the REST API, from the same descriptors the routes are built
 * from: one operation per `google.api.http` rule, the request and response schemas of its
 * messages (proto3 JSON), and the contracts' comments as descriptions.
 */
export function openApiDocument(options: OpenApiOptions): JsonSchema {
  const { methods, builder, comments } = options;
  const paths: Record<string, Record<string, JsonSchema>> = {};
  const services = new Map<string, DescService>();
  for (const rest of methods) {
    services.set(rest.service.typeName, rest.service);
    const schemas = requestSchemas(rest, builder);
    const description = comments.get(`${rest.service.typeName}.${rest.method.name}`) ?? "";
    const success = rest.createdAt ? "201" : "200";
    const responses: Record<string, JsonSchema> = {
      [success]: {
        description: rest.createdAt ? "Created; Location names it" : "OK",
        ...(rest.createdAt ? { headers: { Location: { schema: { type: "string" } } } } : {}),
        content: { "application/json": { schema: builder.response(rest.method.output) } },
      },
    };
    for (const [code, text] of Object.entries(ERRORS)) {
      responses[code] = {
        description: text,
        content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
      };
    }
    const operation: JsonSchema = {
      operationId: operationId(rest.method.name),
      summary: firstSentence(description),
      description: `${description}\n\ngRPC: ${rest.service.typeName}/${rest.method.name}`.trim(),
      tags: [rest.service.typeName],
      parameters: parametersOf(rest, schemas),
      responses,
    };
    if (schemas.body) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: schemas.body } },
      };
    }
    (paths[rest.template] ??= {})[rest.httpMethod.toLowerCase()] = operation;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "grpc-shop-mesh",
      version: options.version ?? "v1",
      description:
        "The shop's REST API, transcoded from the gRPC contracts' google.api.http rules. JSON is the proto3 JSON mapping: lowerCamelCase names (proto names accepted too), int64 as strings, enums by name, Timestamps in RFC 3339.",
    },
    tags: [...services.values()].map((s) => ({
      name: s.typeName,
      description: comments.get(s.typeName) ?? "",
    })),
    paths,
    components: {
      schemas: { ...Object.fromEntries(builder.components), Error: ERROR_SCHEMA },
    },
  };
}
