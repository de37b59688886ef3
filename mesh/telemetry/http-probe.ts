import { performance } from "node:perf_hooks";
import type { Span } from "@opentelemetry/api";
import type { HistogramFamily, HistogramSeries } from "./lean-metrics";
import { parseTraceparent } from "./traceparent";
import { endSpan, SpanKind, startSpan, type Tracing } from "./tracing";

/** What an HTTP server knows of a request when it arrives. */
export interface HttpRequestInfo {
  /** `GET`, `POST`, … */
  method: string;
  /** The path, without the query. */
  path: string;
  /** The caller's `traceparent` header, if any: the span continues its trace. */
  traceparent?: string;
  /** The peer's address. */
  clientAddress?: string;
  userAgent?: string;
  /** Where the request was received (`server.address`, `server.port`). */
  serverAddress?: string;
  serverPort?: number;
  /** `http` or `https`. */
  scheme: string;
}

/** One request being served: its server span and when it started. */
export interface HttpServerCall {
  readonly span: Span;
  readonly method: string;
  readonly startedAt: number;
}

/** How a request ended. */
export interface HttpOutcome {
  /** The route's template (`/api/orders/{order_id}`); undefined when no route matched. */
  route?: string;
  statusCode: number;
  /** The class of error for an error answer (a gRPC code name such as "NOT_FOUND"). */
  errorType?: string;
}

// A status from this one up marks the server span as failed (OTel HTTP semantic conventions:
// a 4xx is the client's error, not the server's).
const SERVER_ERROR = 500;

/**
 * The server side of HTTP requests, per OTel's HTTP semantic conventions: a server span per
 * request (named `METHOD route`, with `http.request.method`, `http.route`,
 * `http.response.status_code`, `url.path`, `url.scheme`, `client.address`, …) that continues
 * the caller's `traceparent`, and the histogram `http_server_request_duration_seconds`
 * (`http.server.request.duration` in OTel's naming) by method, route and status code.
 */
export class HttpServerProbe {
  // Series by "method route status": a request costs one map lookup for its histogram.
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    private readonly tracing: Tracing,
    private readonly duration: HistogramFamily,
  ) {}

  /** A request arrived: starts its span, a child of the caller's `traceparent` if valid. */
  begin(request: HttpRequestInfo): HttpServerCall {
    const attributes: Record<string, string | number> = {
      "http.request.method": request.method,
      "url.path": request.path,
      "url.scheme": request.scheme,
    };
    if (request.clientAddress) attributes["client.address"] = request.clientAddress;
    if (request.userAgent) attributes["user_agent.original"] = request.userAgent;
    if (request.serverAddress) attributes["server.address"] = request.serverAddress;
    if (request.serverPort) attributes["server.port"] = request.serverPort;
    const span = startSpan(
      this.tracing,
      request.method,
      { kind: SpanKind.SERVER, attributes },
      parseTraceparent(request.traceparent?.trim().toLowerCase()),
    );
    return { span, method: request.method, startedAt: performance.now() };
  }

  /** The answer was sent: ends the span and records the duration. */
  end(call: HttpServerCall, outcome: HttpOutcome): void {
    const seconds = (performance.now() - call.startedAt) / 1_000;
    const route = outcome.route ?? "";
    const key = `${call.method} ${route} ${outcome.statusCode}`;
    let series = this.series.get(key);
    if (!series) {
      series = this.duration.series({
        http_request_method: call.method,
        http_route: route,
        http_response_status_code: String(outcome.statusCode),
      });
      this.series.set(key, series);
    }
    series.observe(seconds);
    const { span } = call;
    if (outcome.route) {
      span.updateName(`${call.method} ${outcome.route}`);
      span.setAttribute("http.route", outcome.route);
    }
    span.setAttribute("http.response.status_code", outcome.statusCode);
    if (outcome.errorType && outcome.statusCode >= SERVER_ERROR) {
      endSpan(span, outcome.errorType);
      return;
    }
    // A client error is named, but leaves the span's status unset.
    if (outcome.errorType) span.setAttribute("error.type", outcome.errorType);
    span.end();
  }
}
