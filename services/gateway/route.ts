import { badRequest } from "./http-errors";
import type { Schema } from "./json-schema";
import type { RequestScope } from "./rpc";

/** What a route's handler gets: checked parameters and body, and the request's scope. */
export interface RouteInput {
  /** Path parameters by name. */
  params: Record<string, string>;
  /** Query parameters, checked and converted (integers are numbers). */
  query: Record<string, unknown>;
  /** Request headers, lower-cased. */
  headers: Record<string, string | string[] | undefined>;
  /** The JSON body, checked against the route's `body` schema; undefined without one. */
  body: unknown;
  scope: RequestScope;
}

/** A header a route reads, documented in the OpenAPI document. */
export interface HeaderSpec {
  description: string;
  required: boolean;
  schema: Schema;
}

/**
 * One HTTP route: how it is matched, what it accepts and answers (which the OpenAPI document
 * is built from, and requests are checked against), and its handler.
 */
export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** An OpenAPI path template: `/api/users/{userId}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Schemas of the path template's parameters. */
  params?: Record<string, Schema>;
  /** Query parameters: optional unless named in `requiredQuery`. */
  query?: Record<string, Schema>;
  requiredQuery?: string[];
  headers?: Record<string, HeaderSpec>;
  /** The JSON body's schema, written inline (see json-schema.ts). */
  body?: Schema;
  response: {
    /** Defaults to 200. */
    status?: number;
    description: string;
    schema: Schema;
    /** Defaults to application/json; a text route's handler returns a string. */
    contentType?: string;
  };
  /** False for the dashboard's own polling, which would drown the traces. Defaults to true. */
  traced?: boolean;
  /** HTTP statuses of the errors it may answer, besides 400 for bad input. */
  errors: number[];
  handle(input: RouteInput): Promise<unknown>;
}

/** A route with its path template compiled. */
export interface CompiledRoute {
  route: Route;
  pattern: RegExp;
  names: string[];
}

/** Compiles `{name}` segments into a pattern matching one path segment each. */
export function compileRoute(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\${c}`)
    .replace(/\\\{(\w+)\\\}/g, (_, name: string) => {
      names.push(name);
      return "([^/]+)";
    });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

/** The route and path parameters for a request, or undefined. */
export function matchRoute(
  routes: readonly CompiledRoute[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | undefined {
  for (const { route, pattern, names } of routes) {
    if (route.method !== method) continue;
    const match = pattern.exec(path);
    if (!match) continue;
    const params: Record<string, string> = {};
    names.forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(match[i + 1]);
      } catch {
        throw badRequest(name, "is not valid percent-encoding");
      }
    });
    return { route, params };
  }
  return undefined;
}
