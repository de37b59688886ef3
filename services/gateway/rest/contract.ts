import {
  getExtension,
  hasExtension,
  type DescExtension,
  type DescField,
  type DescMessage,
  type DescMethod,
  type DescService,
} from "@bufbuild/protobuf";
import type { Descriptors, FieldRules } from "../../../mesh/config";
import { meshServiceOf } from "../../../mesh/telemetry";

/** A request field bound to a part of the HTTP request other than the body or query. */
export interface BoundField {
  field: DescField;
  /** The path variable's or the header's name, as the client writes it. */
  name: string;
}

/** Where a POST that creates something says the new thing is: the GET route that reads it. */
export interface CreatedAt {
  /** The GET route's template, `/api/orders/{order_id}`. */
  template: string;
  /** The response field holding the new resource (`order`). */
  resource: DescField;
  /** The resource's field the template's last variable is (`order_id`). */
  id: DescField;
}

/** One RPC served over HTTP/JSON by its `google.api.http` rule. */
export interface RestMethod {
  service: DescService;
  method: DescMethod;
  /** The mesh service that serves it (`shop.orders.v1.OrderService` → "orders"). */
  peer: string;
  httpMethod: "GET" | "PUT" | "POST" | "DELETE" | "PATCH";
  /** The rule's path template: `/api/orders/{order_id}`. */
  template: string;
  /** Fields bound to the path's variables, in order. */
  pathFields: BoundField[];
  /** Fields read from a request header (`FieldRules.http_header`). */
  headerFields: BoundField[];
  /** "*" when the body is the request (less the bound fields); "" when there is no body. */
  body: "*" | "";
  /** For a POST that creates a resource: where it can be read (201 with Location). */
  createdAt?: CreatedAt;
}

const VARIABLE = /^\{([a-z_][a-z0-9_]*)(=\*)?\}$/;
const LITERAL = /^[A-Za-z0-9._~-]+$/;

/** The message's top-level field of this proto name, or an error naming the method. */
function fieldNamed(message: DescMessage, name: string, method: DescMethod): DescField {
  const field = message.fields.find((f) => f.name === name);
  if (!field) throw new Error(`${method.parent.typeName}.${method.name}: no field "${name}"`);
  return field;
}

/**
 * Reads a method's `google.api.http` rule. Supported: get, put, post, delete and patch; path
 * templates of literal segments and single-segment `{field}` variables of top-level scalar
 * fields; `body` "*" or none. Anything else stops start-up naming the method.
 */
function restMethodOf(
  method: DescMethod,
  http: DescExtension,
  rulesOf: (field: DescField) => FieldRules,
): RestMethod | undefined {
  const options = method.proto.options;
  if (!options || !hasExtension(options, http)) return undefined;
  const name = `${method.parent.typeName}.${method.name}`;
  const rule = getExtension(options, http) as {
    pattern: { case: string | undefined; value: unknown };
    body: string;
    additionalBindings: unknown[];
  };
  const verb = rule.pattern.case;
  if (!verb || verb === "custom" || typeof rule.pattern.value !== "string") {
    throw new Error(`${name}: only get, put, post, delete and patch rules are served`);
  }
  if (method.methodKind !== "unary") throw new Error(`${name}: only unary methods are served`);
  if (rule.body !== "" && rule.body !== "*") {
    throw new Error(`${name}: body must be "*" or absent, not "${rule.body}"`);
  }
  if (rule.additionalBindings.length > 0) throw new Error(`${name}: additional_bindings`);
  const template = rule.pattern.value;
  const pathFields: BoundField[] = [];
  for (const segment of template.split("/").slice(1)) {
    const variable = VARIABLE.exec(segment);
    if (variable) {
      const field = fieldNamed(method.input, variable[1], method);
      if (field.fieldKind !== "scalar" && field.fieldKind !== "enum") {
        throw new Error(`${name}: path variable ${field.name} must be a scalar field`);
      }
      pathFields.push({ field, name: field.name });
    } else if (!LITERAL.test(segment)) {
      throw new Error(`${name}: path segment "${segment}" is not supported`);
    }
  }
  const headerFields = method.input.fields
    .map((field) => ({ field, name: rulesOf(field).httpHeader.toLowerCase() }))
    .filter((bound) => bound.name !== "");
  return {
    service: method.parent,
    method,
    peer: meshServiceOf(method.parent.typeName),
    httpMethod: verb.toUpperCase() as RestMethod["httpMethod"],
    template,
    pathFields,
    headerFields,
    body: rule.body === "*" ? "*" : "",
  };
}

/**
 * A POST that makes one resource answers 201 with a Location when the same service reads it
 * at `<its path>/{id}`: its response holds one message field (`order`) that has the `id`
 * field. AIP-133's create/get pair, found in the rules rather than written down twice.
 */
function createdAtOf(post: RestMethod, all: readonly RestMethod[]): CreatedAt | undefined {
  if (post.httpMethod !== "POST") return undefined;
  const resources = post.method.output.fields.filter((f) => f.fieldKind === "message");
  if (resources.length !== 1 || post.method.output.fields.length !== 1) return undefined;
  const resource = resources[0];
  for (const get of all) {
    if (get.service !== post.service || get.httpMethod !== "GET") continue;
    if (get.pathFields.length === 0) continue;
    const last = get.pathFields[get.pathFields.length - 1];
    if (get.template !== `${post.template}/{${last.name}}`) continue;
    const id = resource.message?.fields.find((f) => f.name === last.name);
    if (id) return { template: get.template, resource, id };
  }
  return undefined;
}

/**
 * Every method of `descriptors` with a `google.api.http` rule, in file order: the REST API the
 * gateway serves. The `shop.api.v1.field` rules say what each field accepts.
 *
 * @throws Error naming the method when a rule asks for something the gateway does not serve.
 */
export function restMethods(descriptors: Descriptors): RestMethod[] {
  const registry = descriptors.registry;
  const http = registry.getExtension("google.api.http");
  if (!http) return [];

  const found: RestMethod[] = [];
  for (const file of registry.files) {
    for (const service of file.services) {
      for (const method of service.methods) {
        const rest = restMethodOf(method, http, (field) => descriptors.fieldRules(field));
        if (rest) found.push(rest);
      }
    }
  }
  for (const rest of found) rest.createdAt = createdAtOf(rest, found);
  return found;
}
