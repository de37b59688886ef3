import type { Route } from "./route";
import { COMPONENTS } from "./schemas";

const REASONS: Record<number, string> = {
  400: "Bad input (the field is named) or a failed precondition",
  401: "Unauthenticated",
  403: "Permission denied",
  404: "Not found",
  409: "Conflict: already exists, or the Idempotency-Key was used for another request",
  429: "Shed by an overloaded service; retry later",
  499: "The caller went away",
  500: "Internal error",
  503: "A service is unavailable",
  504: "The request's deadline passed",
};
// Any call into the mesh may end these ways.
const ALWAYS = [400, 500, 503, 504];
const errorResponse = (status: number) => ({
  description: REASONS[status] ?? "Error",
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

/** The OpenAPI 3.1 document of `routes`: built from the same table the server routes with. */
export function openApiDocument(routes: readonly Route[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of routes) {
    const parameters = [
      ...Object.entries(route.params ?? {}).map(([name, schema]) => ({
        name,
        in: "path",
        required: true,
        schema,
      })),
      ...Object.entries(route.query ?? {}).map(([name, schema]) => ({
        name,
        in: "query",
        required: false,
        schema,
      })),
      ...Object.entries(route.headers ?? {}).map(([name, h]) => ({
        name,
        in: "header",
        required: h.required,
        description: h.description,
        schema: h.schema,
      })),
      {
        name: "Request-Timeout",
        in: "header",
        required: false,
        description:
          'Time budget: seconds ("2", "1.5") or with a unit ("250ms"); X-Request-Timeout and grpc-timeout ("500m") also work. Becomes the gRPC deadline, capped by the method\'s policy timeout.',
        schema: { type: "string" },
      },
    ];
    const { response } = route;
    const statuses = [...new Set([...ALWAYS, ...route.errors])].sort((a, b) => a - b);
    paths[route.path] ??= {};
    paths[route.path][route.method.toLowerCase()] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      parameters,
      ...(route.body && {
        requestBody: { required: true, content: { "application/json": { schema: route.body } } },
      }),
      responses: {
        [String(response.status ?? 200)]: {
          description: response.description,
          content: { [response.contentType ?? "application/json"]: { schema: response.schema } },
        },
        ...Object.fromEntries(statuses.map((s) => [String(s), errorResponse(s)])),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "grpc-shop-mesh gateway",
      version: "1.0.0",
      description:
        "REST/JSON over the shop's gRPC services (proto3 JSON mapping). gRPC codes map to HTTP " +
        "statuses as google/rpc/code.proto gives; errors are { error: { code, status, message, details } }. " +
        "A traceparent header is carried into the mesh; authorization is passed through.",
    },
    paths,
    components: { schemas: COMPONENTS },
  };
}
