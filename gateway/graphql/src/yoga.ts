import type { IncomingMessage, ServerResponse } from "node:http";
import { useOpenTelemetry } from "@envelop/opentelemetry";
import { SpanKind, trace } from "@opentelemetry/api";
import type { Logger } from "@tessera/platform/log";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { useAuthGate } from "./auth-gate.ts";
import { type ContextDeps, createContext, type GatewayContext } from "./context.ts";
import { createMaskError } from "./errors/mask.ts";
import { type OperationLimits, useOperationLimits } from "./limits.ts";
import { useOperationMetrics } from "./metrics.ts";
import { useRequestChecks } from "./pre-parse.ts";
import { gatewaySchema } from "./schema/index.ts";

/** What yoga hands the context factory from the node:http server. */
export interface ServerContext {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
}

/** Options of {@link createGatewayYoga}. */
export interface GatewayYogaOptions {
  readonly context: ContextDeps;
  readonly limits: OperationLimits;
  /** GraphiQL on GET /graphql (and, with limits.introspection, what it needs). */
  readonly graphiql: boolean;
  /** Browser origins allowed to call cross-origin; none: same-origin only. */
  readonly corsOrigins: readonly string[];
  readonly logger: Logger;
}

/**
 * The yoga instance: the Pothos schema, per-request context, and the plugins in this order:
 * request checks (media type, body, text, a pre-parse scan of the document: pre-parse.ts), metrics (sees every outcome), OpenTelemetry (operation span; resolver spans off, variables never
 * recorded), limits (refuse before any call), auth gate (establish the caller). Errors are masked
 * by errors/mask.ts.
 */
export function createGatewayYoga(options: GatewayYogaOptions): YogaServerInstance<ServerContext, GatewayContext> {
  const log = options.logger;
  const maskError = createMaskError(log);
  return createYoga<ServerContext, GatewayContext>({
    schema: gatewaySchema(),
    graphqlEndpoint: "/graphql",
    graphiql: options.graphiql ? { title: "Tessera GraphQL" } : false,
    landingPage: false,
    cors:
      options.corsOrigins.length > 0
        ? { origin: [...options.corsOrigins], methods: ["GET", "POST"], credentials: false, maxAge: 600 }
        : false,
    healthCheckEndpoint: "/yoga-health",
    batching: false,
    multipart: false,
    maskedErrors: { maskError: (error) => maskError(error) },
    // yoga logs every error maskError replaced, with the query text around it (which may hold
    // personal data); expected ones are not worth a line, unexpected ones errors/mask.ts logs
    logging: {
      debug: () => undefined,
      info: () => undefined,
      warn: (...args: unknown[]) =>
        log.warn({ component: "yoga" }, args.filter((a) => typeof a === "string").join(" ")),
      error: () => undefined,
    },
    context: ({ req, requestId }) => createContext(options.context, req, requestId),
    plugins: [
      useRequestChecks(),
      useOperationMetrics(),
      useOpenTelemetry(
        { resolvers: false, variables: false, result: false, document: true },
        trace.getTracerProvider(),
        SpanKind.INTERNAL,
        {},
        "tessera.graphql",
      ),
      useOperationLimits(options.limits),
      useAuthGate(maskError),
    ],
  });
}
