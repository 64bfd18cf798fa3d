import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/nats-core";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { runWithContext } from "@tessera/platform/context";
import type { TokenExchanger } from "@tessera/platform/edge";
import type { Logger } from "@tessera/platform/log";
import { extractTraceContext } from "@tessera/platform/telemetry";
import type { GatewayConfig } from "./config.ts";
import { createTaskEventSource } from "./events/task-events.ts";
import type { ServiceClients } from "./services.ts";
import { createGatewayYoga } from "./yoga.ts";

/** Service name in logs, metrics and spans. */
export const SERVICE = "graphql";

/** The settings build() reads (a GatewayConfig has them all). */
export type GatewaySettings = Pick<
  GatewayConfig,
  | "GRAPHQL_DEV_MODE"
  | "GRAPHQL_MAX_DEPTH"
  | "GRAPHQL_MAX_ALIASES"
  | "GRAPHQL_MAX_COMPLEXITY"
  | "GRAPHQL_MAX_PAGE_SIZE"
  | "GRAPHQL_DEFAULT_PAGE_SIZE"
  | "GRAPHQL_MAX_BODY_BYTES"
  | "TRUSTED_PROXY_HOPS"
  | "SHUTDOWN_GRACE_MS"
  | "GRAPHQL_CORS_ORIGINS"
>;

/** What the gateway runs on: made by main (see deps.ts), or by tests. */
export interface GatewayDeps {
  readonly config: GatewaySettings;
  readonly clients: ServiceClients;
  readonly exchanger: TokenExchanger;
  /** Task events for subscriptions; without it subscriptions answer UNAVAILABLE. */
  readonly nats: NatsConnection | undefined;
  readonly logger: Logger;
}

/** A built gateway: an HTTP server, not yet listening. */
export interface Gateway {
  readonly server: Server;
  /** False once shutdown began (or NATS is gone): /readyz answers 503. */
  ready(): boolean;
  /**
   * Stops accepting, ends subscriptions, lets in-flight requests finish within the grace period,
   * then cuts what is left. Resolves with whether it had to cut.
   */
  shutdown(): Promise<{ forced: boolean }>;
}

const TRACER = "tessera.graphql";

/**
 * Builds the gateway: `POST|GET /graphql` (yoga; GraphiQL only in dev mode), `GET /healthz`
 * (alive), `GET /readyz` (accepting work). Every GraphQL request runs in a SERVER span that
 * continues the caller's W3C trace context, with a request id in the log context.
 */
export function build(deps: GatewayDeps): Gateway {
  const { config, logger } = deps;
  const stopping = new AbortController();
  const yoga = createGatewayYoga({
    context: {
      clients: deps.clients,
      exchanger: deps.exchanger,
      taskEvents: createTaskEventSource(deps.nats, logger),
      pages: { defaultPageSize: config.GRAPHQL_DEFAULT_PAGE_SIZE, maxPageSize: config.GRAPHQL_MAX_PAGE_SIZE },
      shutdown: stopping.signal,
      trustedProxyHops: config.TRUSTED_PROXY_HOPS,
    },
    limits: {
      maxDepth: config.GRAPHQL_MAX_DEPTH,
      maxAliases: config.GRAPHQL_MAX_ALIASES,
      maxComplexity: config.GRAPHQL_MAX_COMPLEXITY,
      introspection: config.GRAPHQL_DEV_MODE,
    },
    graphiql: config.GRAPHQL_DEV_MODE,
    corsOrigins: config.GRAPHQL_CORS_ORIGINS,
    logger,
  });
  const ready = () => !stopping.signal.aborted && (deps.nats === undefined || !deps.nats.isClosed());

  const graphql = (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    res.setHeader("x-request-id", requestId);
    const length = Number(req.headers["content-length"] ?? 0);
    // a body without a length could be any size: only sized bodies are read
    if (req.method === "POST" && req.headers["content-length"] === undefined) {
      sendJson(res, 411, {
        errors: [{ message: "Content-Length required.", extensions: { code: "LENGTH_REQUIRED" } }],
      });
      req.resume();
      return;
    }
    if (length > config.GRAPHQL_MAX_BODY_BYTES) {
      sendJson(res, 413, {
        errors: [{ message: "Request body too large.", extensions: { code: "PAYLOAD_TOO_LARGE" } }],
      });
      req.resume();
      return;
    }
    const parent = extractTraceContext(req.headers);
    const span = trace
      .getTracer(TRACER)
      .startSpan(
        `${req.method} /graphql`,
        { kind: SpanKind.SERVER, attributes: { "http.request.method": req.method ?? "", "url.path": "/graphql" } },
        parent,
      );
    res.once("close", () => {
      span.setAttribute("http.response.status_code", res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), () =>
      runWithContext({ requestId, tenantId: undefined, principal: undefined, token: undefined }, () =>
        yoga.handle(req, res, { req, res, requestId }),
      ),
    );
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/graphql") return void graphql(req, res);
    if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
      return sendJson(res, 200, { status: "ok" });
    }
    if (path === "/readyz" && (req.method === "GET" || req.method === "HEAD")) {
      return ready() ? sendJson(res, 200, { status: "ready" }) : sendJson(res, 503, { status: "not ready" });
    }
    sendJson(res, 404, { error: "not found" });
  });
  server.headersTimeout = 10_000;
  // receiving a request (not answering it: subscriptions stream for long) must not take forever
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  let shuttingDown: Promise<{ forced: boolean }> | undefined;
  return {
    server,
    ready,
    shutdown() {
      shuttingDown ??= (async () => {
        logger.info({ grace_ms: config.SHUTDOWN_GRACE_MS }, "shutting down: no new requests, ending subscriptions");
        stopping.abort();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // keep-alive connections become idle as their last response (an ended stream) finishes
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
        server.closeIdleConnections();
        let timer: NodeJS.Timeout | undefined;
        const forced = await Promise.race([
          closed.then(() => false),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(true), config.SHUTDOWN_GRACE_MS);
          }),
        ]);
        clearTimeout(timer);
        clearInterval(sweep);
        if (forced) {
          logger.warn("grace period over: closing the remaining connections");
          server.closeAllConnections();
          await closed;
        }
        return { forced };
      })();
      return shuttingDown;
    },
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8" }).end(JSON.stringify(body));
}
