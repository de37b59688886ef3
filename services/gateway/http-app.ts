import type { ServerOptions as HttpsOptions } from "node:https";
import { status, type Metadata } from "@grpc/grpc-js";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { isGrpcError, type Logger } from "../../mesh";
import { formatTraceparent, type HttpServerCall, type HttpServerProbe } from "../../mesh/telemetry";
import { badRequest, errorBody, HttpError, toHttpError } from "./http-errors";
import { jsonDepth, MAX_BODY_BYTES, MAX_JSON_DEPTH } from "./http-request";
import { INTEGER_FORMATS, type IntegerFormat } from "./rest/json-schema";

/** What a route says about itself in its `config`. */
export interface RouteConfig {
  /** The route's template as OTel's `http.route` and OpenAPI write it: `/api/orders/{order_id}`. */
  template: string;
  /** False for routes polled all the time (metrics, health, the dashboard), which would drown the traces and the histogram. Defaults to true. */
  traced?: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The request's server span and clock, when it is traced. */
    traced?: HttpServerCall;
    /** The gRPC code name of the error answered, for the span's `error.type`. */
    errorType?: string;
  }
}

/** Options for {@link createHttpApp}. */
export interface HttpAppOptions {
  log: Logger;
  /** The root span and histogram per request (mesh telemetry). */
  probe: HttpServerProbe;
  /** TLS, for a listener that asks for client certificates. Defaults to plain HTTP. */
  https?: HttpsOptions;
}

const DECIMAL = /^-?\d+$/;
/** ajv formats for the string form of proto3 JSON integers: decimal, within the type's range. */
const integerFormats = Object.fromEntries(
  (Object.keys(INTEGER_FORMATS) as IntegerFormat[]).map((name) => [
    name,
    {
      type: "string" as const,
      validate: (text: string) => {
        if (!DECIMAL.test(text)) return false;
        const value = BigInt(text);
        return value >= INTEGER_FORMATS[name].min && value <= INTEGER_FORMATS[name].max;
      },
    },
  ]),
);
// RFC 3339, as proto3 JSON writes a Timestamp.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** `/items/0/quantity` → `items[0].quantity`: a field path as the error details write it. */
function fieldPath(instancePath: string, child?: string): string {
  const parts = instancePath.split("/").slice(1);
  if (child !== undefined) parts.push(child);
  return parts
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce(
      (path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part),
      "",
    );
}

/** A schema validation failure as a 400 naming the field (ajv's first error). */
function validationError(err: FastifyError): HttpError {
  const [first] = err.validation ?? [];
  const context = err.validationContext ?? "body";
  if (!first) return badRequest(context, "is not valid");
  const params = first.params as { missingProperty?: string; additionalProperty?: string };
  if (first.keyword === "required" && params.missingProperty) {
    const field = fieldPath(first.instancePath, params.missingProperty);
    return badRequest(field, context === "headers" ? "header is required" : "is required");
  }
  if (first.keyword === "additionalProperties" && params.additionalProperty) {
    return badRequest(
      fieldPath(first.instancePath, params.additionalProperty),
      "is not a field of this request",
    );
  }
  const format = (first.params as { format?: string }).format;
  const message =
    first.keyword === "format" && format && format in INTEGER_FORMATS
      ? `must be an ${format} integer, as a number or a decimal string`
      : (first.message ?? "is not valid");
  if (first.instancePath === "") return badRequest(context, message);
  return badRequest(fieldPath(first.instancePath), message);
}

/** What fastify itself refuses (size, media type, malformed framing) as our error shape. */
function frameworkError(err: FastifyError): HttpError | undefined {
  switch (err.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new HttpError(
        status.INVALID_ARGUMENT,
        `body: must be at most ${MAX_BODY_BYTES} bytes`,
        badRequest("body", `must be at most ${MAX_BODY_BYTES} bytes`).details,
        413,
      );
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new HttpError(
        status.INVALID_ARGUMENT,
        "content-type: must be application/json",
        badRequest("content-type", "must be application/json").details,
        415,
      );
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return badRequest("body", "a JSON object is required");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return badRequest("body", "is not valid JSON");
  }
  const code = err.statusCode ?? 500;
  if (code >= 400 && code < 500)
    return new HttpError(status.INVALID_ARGUMENT, "request: malformed", [], code);
  return undefined;
}

/** The request's trace id, when it is traced. */
export const traceIdOf = (request: FastifyRequest): string | undefined =>
  request.traced?.span.spanContext().traceId;

/**
 * A fastify server with the gateway's rules: JSON bodies only (415 for anything else, so no
 * simple cross-site form can post), at most {@link MAX_BODY_BYTES} (413) and
 * {@link MAX_JSON_DEPTH} levels deep (400); schema failures as 400s naming the field; a 405
 * with `Allow` for a known path and another method; HEAD wherever GET is served; errors as
 * `{ error: { code, status, message, details } }` with the trace id; and a root server span
 * (W3C `traceparent` continued, `traceresponse` answered) and a duration per request.
 */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const { log, probe } = options;
  const app = Fastify({
    bodyLimit: MAX_BODY_BYTES,
    logger: false,
    return503OnClosing: true,
    ...(options.https ? { https: options.https } : {}),
    ajv: {
      customOptions: {
        // proto3 JSON is exact: "7" for a string field is an error, not a coercion.
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: false,
        allErrors: false,
        strict: false,
        // The schemas are the gateway's own, made from the descriptors (and tested); checking
        // each against JSON Schema's meta-schema compiled that meta-schema at every start.
        validateSchema: false,
      },
      // After fastify adds ajv-formats, whose int32 and int64 check only numbers.
      onCreate: (ajv) => {
        for (const [name, format] of Object.entries(integerFormats)) ajv.addFormat(name, format);
        ajv.addFormat("date-time", {
          type: "string" as const,
          validate: (text: string) => RFC3339.test(text) && !Number.isNaN(Date.parse(text)),
        });
      },
    },
  }) as unknown as FastifyInstance;

  app.removeContentTypeParser(["application/json", "text/plain"]);
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = body as string;
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      done(badRequest("body", `must not nest deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    // Fastify's own parser (secure-json-parse: no __proto__ or constructor.prototype keys).
    void parseJson(request, text, done);
  });

  app.decorateRequest("traced", undefined);
  app.decorateRequest("errorType", undefined);
  app.addHook("onRequest", async (request, reply) => {
    const config = request.routeOptions.config as Partial<RouteConfig>;
    if (config.traced === false) return;
    const [host, port] = (request.host ?? "").split(":");
    request.traced = probe.begin({
      method: request.method,
      path: request.url.split("?")[0],
      traceparent: request.headers.traceparent as string | undefined,
      clientAddress: request.ip,
      userAgent: request.headers["user-agent"],
      serverAddress: host || undefined,
      serverPort: port ? Number(port) : undefined,
      scheme: request.protocol,
    });
    // W3C Trace Context level 2: the response names the trace it was recorded in.
    reply.header("traceresponse", formatTraceparent(request.traced.span.spanContext()));
  });
  app.addHook("onResponse", async (request, reply) => {
    if (!request.traced) return;
    const config = request.routeOptions.config as Partial<RouteConfig>;
    probe.end(request.traced, {
      route: config.template,
      statusCode: reply.statusCode,
      errorType: request.errorType,
    });
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const traceId = traceIdOf(request);
    let error: HttpError;
    if (err.validation) error = validationError(err);
    else if (err instanceof HttpError) error = err;
    else error = frameworkError(err) ?? toHttpError(err, traceId);
    if (error.httpStatus >= 500 && error.grpcCode === status.INTERNAL) {
      log.error(
        { err, trace_id: traceId, path: request.url.split("?")[0] },
        "gateway request failed",
      );
    }
    request.errorType = status[error.grpcCode];
    // A refusal that says when to come back (a login limit) says so in HTTP's words too.
    const retryAfter = isGrpcError(err)
      ? (err as { metadata?: Metadata }).metadata?.get("retry-after")[0]
      : undefined;
    if (typeof retryAfter === "string" && /^\d+$/.test(retryAfter))
      reply.header("retry-after", retryAfter);
    return reply.code(error.httpStatus).type("application/json").send(errorBody(error, traceId));
  });

  // Every route's path as a pattern, to tell a wrong method (405) from a wrong path (404).
  const routes: { pattern: RegExp; method: string }[] = [];
  app.addHook("onRoute", (route) => {
    const source = route.url
      .split("/")
      .map((segment) =>
        segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
      )
      .join("/");
    for (const method of [route.method].flat())
      routes.push({ pattern: new RegExp(`^${source}$`), method });
  });

  // A path served with other methods answers 405 and says which (RFC 9110, 15.5.6).
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0];
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    const traceId = traceIdOf(request);
    if (allowed.length > 0) {
      const error = new HttpError(
        status.UNIMPLEMENTED,
        `${request.method} is not served at ${path}; use ${allowed.join(", ")}`,
        [],
        405,
      );
      request.errorType = "UNIMPLEMENTED";
      return reply
        .code(405)
        .header("allow", allowed.join(", "))
        .type("application/json")
        .send(errorBody(error, traceId));
    }
    request.errorType = "NOT_FOUND";
    const error = new HttpError(status.NOT_FOUND, `no route for ${request.method} ${path}`);
    return reply.code(404).type("application/json").send(errorBody(error, traceId));
  });
  return app;
}
