import { fromJson, toJson, type DescField, type JsonValue } from "@bufbuild/protobuf";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { type PolicyConfig } from "../../../mesh";
import { resolveMethodPolicy, type Descriptors } from "../../../mesh/config";
import type { RouteConfig } from "../http-app";
import { badRequest } from "../http-errors";
import { requestTimeoutMs } from "../http-request";
import type { RestMethod } from "./contract";
import type { JsonSchema, SchemaBuilder } from "./json-schema";
import type { DynamicPeer } from "./peers";
import { fromText, isQueryField, queryJson, withJsonNames, type JsonObject } from "./proto-json";

/** `/api/orders/{order_id}` → `/api/orders/:order_id`: the template in fastify's syntax. */
export const fastifyUrl = (template: string): string =>
  template.replace(/\{([a-z_][a-z0-9_]*)(=\*)?\}/g, ":$1");

/** The fields of `rest` that the path and headers set, which the body and query do not. */
export const boundFields = (rest: RestMethod): Set<DescField> =>
  new Set([...rest.pathFields, ...rest.headerFields].map((b) => b.field));

/**
 * The schemas fastify's ajv checks a request against, all from the request message: the
 * path variables, the headers the contract binds, and the body (`body: "*"`) or the query.
 * Query values are text: booleans may be "true"/"false", and both spellings of a name count.
 */
export function requestSchemas(
  rest: RestMethod,
  builder: SchemaBuilder,
): Record<string, JsonSchema> {
  const schemas: Record<string, JsonSchema> = {};
  const input = rest.method.input;
  if (rest.pathFields.length > 0) {
    schemas.params = {
      type: "object",
      properties: Object.fromEntries(
        rest.pathFields.map((b) => [b.name, builder.requestField(b.field)]),
      ),
      required: rest.pathFields.map((b) => b.name),
    };
  }
  if (rest.headerFields.length > 0) {
    schemas.headers = {
      type: "object",
      properties: Object.fromEntries(
        rest.headerFields.map((b) => [b.name, builder.requestField(b.field)]),
      ),
      required: rest.headerFields.map((b) => b.name),
    };
  }
  const bound = boundFields(rest);
  if (rest.body === "*") {
    schemas.body = builder.request(input, bound);
  } else {
    const properties: Record<string, JsonSchema> = {};
    for (const field of input.fields) {
      if (bound.has(field) || !isQueryField(field)) continue;
      let schema = builder.requestField(field);
      if (field.fieldKind === "scalar" && schema.type === "boolean") {
        schema = { ...schema, type: ["boolean", "string"], enum: [true, false, "true", "false"] };
      }
      if (field.fieldKind === "list") schema = { description: schema.description };
      properties[field.jsonName] = schema;
      if (field.name !== field.jsonName) properties[field.name] = schema;
    }
    schemas.querystring = { type: "object", properties };
  }
  return schemas;
}

/** Options for {@link registerRestRoutes}. */
export interface RestRoutesOptions {
  methods: readonly RestMethod[];
  builder: SchemaBuilder;
  /** The peer of each method's service. */
  peerOf: (rest: RestMethod) => DynamicPeer;
  policy: PolicyConfig;
  descriptors: Descriptors;
}

/** What a proto3 JSON parser refused, as a 400 (the schema lets nearly nothing through). */
function parse(rest: RestMethod, json: JsonObject) {
  try {
    return fromJson(rest.method.input, json as JsonValue);
  } catch {
    throw badRequest("body", `is not a valid ${rest.method.input.typeName} in proto3 JSON`);
  }
}

const noTimeLeft = (path: string): ServiceError =>
  Object.assign(new Error(`no time left to call ${path}`), {
    code: status.DEADLINE_EXCEEDED,
    details: `no time left to call ${path}`,
    metadata: new Metadata(),
  });

/**
 * One fastify route per REST method: the request checked against its schemas, turned into
 * the request message by the proto3 JSON mapping (path variables and bound headers set into
 * it), called through the method's mesh peer with the caller's time budget (never beyond the
 * method's policy timeout), `authorization` and address, under the request's span; the
 * response written by the same mapping. A POST that creates a resource answers 201 with its
 * `Location`.
 */
export function registerRestRoutes(app: FastifyInstance, options: RestRoutesOptions): void {
  const { methods, builder, policy, descriptors } = options;
  for (const rest of methods) {
    const { method } = rest;
    const path = `/${rest.service.typeName}/${method.name}`;
    const policyTimeoutMs = resolveMethodPolicy(policy, path, descriptors).timeoutMs;
    const call = options.peerOf(rest).call(method);
    const bound = boundFields(rest);
    const config: RouteConfig = { template: rest.template };
    app.route({
      method: rest.httpMethod,
      url: fastifyUrl(rest.template),
      schema: requestSchemas(rest, builder),
      config,
      // proto3 JSON accepts `user_id` as well as `userId`: one spelling for the schema.
      preValidation: async (request: FastifyRequest) => {
        if (rest.body === "*") request.body = withJsonNames(method.input, request.body);
      },
      handler: async (request, reply) => {
        const json: JsonObject =
          rest.body === "*"
            ? { ...(request.body as JsonObject) }
            : queryJson(method.input, request.query as Record<string, string>, bound);
        const params = request.params as Record<string, string>;
        for (const { field, name } of rest.pathFields)
          json[field.jsonName] = fromText(field, params[name]);
        for (const { field, name } of rest.headerFields) {
          const value = request.headers[name];
          if (typeof value === "string") json[field.jsonName] = value;
        }
        const message = parse(rest, json);
        const budget = requestTimeoutMs(request.headers);
        const timeoutMs =
          budget === undefined ? policyTimeoutMs : Math.min(policyTimeoutMs, budget);
        if (timeoutMs <= 0) throw noTimeLeft(path);
        const metadata = new Metadata();
        const authorization = request.headers.authorization;
        if (authorization) metadata.set("authorization", authorization);
        // The end client's address, for what the services limit per client (logins).
        metadata.set("x-forwarded-for", request.ip);
        const response = await call(message, { metadata, timeoutMs, span: request.traced?.span });
        const body = toJson(method.output, response) as JsonObject;
        const created = rest.createdAt;
        if (created) {
          const resource = body[created.resource.jsonName] as JsonObject | undefined;
          const id = resource?.[created.id.jsonName];
          if (typeof id === "string") {
            reply
              .code(201)
              .header(
                "location",
                created.template.replace(`{${created.id.name}}`, encodeURIComponent(id)),
              );
          }
        }
        return body;
      },
    });
  }
}
