import { randomUUID } from "node:crypto";
import { exchangeInterceptor, type TokenExchanger } from "@tessera/platform/edge";
import type { Logger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { telemetryClientInterceptor } from "@tessera/platform/telemetry";
import { placementRoute, type TenantResolver } from "@tessera/platform/tenancy-client";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import Fastify, {
  type FastifyInstance,
  type onRequestHookHandler,
  type preHandlerHookHandler,
  type RouteOptions,
} from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { AUDIT_AUDIENCE, authenticate, IDENTITY_AUDIENCE, PROJECTS_AUDIENCE } from "./auth.ts";
import { problemErrorHandler } from "./errors.ts";
import type { RegisteredRoute } from "./fastify-types.ts";
import type { IdempotencyStore } from "./idempotency.ts";
import { idempotencyPreHandler, settleIdempotency } from "./idempotency-hooks.ts";
import { finishRequest, startRequestSpan } from "./observability.ts";
import { registerOpenApi } from "./openapi.ts";
import { clientErrorHandler, frameworkErrorHandler, installProtocolHooks } from "./protocol-hooks.ts";
import { type RateLimiter, rateLimitHeaders } from "./rate-limit.ts";
import { inRequestScope, requestScopedExchanger, stateOf } from "./request-state.ts";
import { ssoProxyRoutes } from "./routes/sso.ts";
import { apiKeyRoutes } from "./routes/v1/api-keys.ts";
import { auditEventRoutes } from "./routes/v1/audit-events.ts";
import { commentRoutes } from "./routes/v1/comments.ts";
import type { IdentityClients } from "./routes/v1/identity-common.ts";
import { memberRoutes } from "./routes/v1/members.ts";
import { mfaPolicyRoutes } from "./routes/v1/mfa-policy.ts";
import { projectRoutes } from "./routes/v1/projects.ts";
import { scimRoutes } from "./routes/v1/scim.ts";
import { sessionRoutes } from "./routes/v1/sessions.ts";
import { ssoConnectionRoutes } from "./routes/v1/sso-connection.ts";
import { taskRoutes } from "./routes/v1/tasks.ts";
import { lifecycleHeaders, type VersionPolicy, versionOfPath } from "./versions.ts";

/** What the edge is built from; main.ts wires them from the environment (wiring.ts), tests too. */
export interface RestDeps {
  readonly logger: Logger;
  /** The kit's token exchanger (identity); build scopes it to one exchange per request and audience. */
  readonly exchanger: TokenExchanger;
  /** projects' gRPC base URL (its shared instance). */
  readonly projectsUrl: string;
  /**
   * Tenant placements: a silo tenant's calls go to its own projects (`endpoints.projects`); a
   * tenant that cannot be resolved gets 503. Without it every call goes to projectsUrl.
   */
  readonly resolver?: TenantResolver | undefined;
  /** audit's gRPC base URL (/v1/audit-events); those routes answer 503 without it. */
  readonly auditUrl?: string | undefined;
  /** identity's gRPC base URL for /v1/members, /v1/invitations, /v1/api-keys, /v1/sessions, /v1/mfa-policy, /v1/scim, /v1/sso-connection (503 without it). */
  readonly identityUrl?: string | undefined;
  /** identity's HTTP listener, where `/sso/start` and `/sso/callback` are forwarded (404 without it). */
  readonly identityHttpUrl?: string | undefined;
  readonly idempotency: IdempotencyStore;
  /** Per-tenant limits; none when omitted. */
  readonly rateLimiter?: RateLimiter | undefined;
  /** Default 1 MiB. */
  readonly bodyLimitBytes?: number;
  /** Deadline of each call to projects. Default 5 000 ms. */
  readonly upstreamTimeoutMs?: number;
  /** Deprecation / sunset per URL version. */
  readonly versions?: VersionPolicy;
  readonly publicBaseUrl?: string | undefined;
  /** API version shown in the OpenAPI document. */
  readonly apiVersion?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * The REST edge as an un-started Fastify instance: `/v1` routes over projects' gRPC API, the
 * OpenAPI document and docs page, `/healthz`, and around every request: a SERVER span, API-key
 * authentication by exchange at identity, per-tenant rate limits, idempotency for POSTs,
 * problem+json for every error, RED metrics and one access-log line.
 */
export async function build(deps: RestDeps): Promise<FastifyInstance> {
  const log = deps.logger;
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes ?? 1024 * 1024,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    // protocol-level refusals as problem+json too (protocol-hooks.ts)
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler,
    genReqId: (req) => {
      const incoming = req.headers["x-request-id"];
      return typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installProtocolHooks(app);

  const exchanger = requestScopedExchanger(deps.exchanger);
  const clientOptions = {
    baseUrl: deps.projectsUrl,
    defaultTimeoutMs: deps.upstreamTimeoutMs ?? 5_000,
    interceptors: [telemetryClientInterceptor(), exchangeInterceptor(exchanger, PROJECTS_AUDIENCE)],
    logger: log,
  };
  const projectsOptions = {
    ...clientOptions,
    ...(deps.resolver && { route: placementRoute(deps.resolver, "projects") }),
  };
  const projects = createServiceClient(ProjectService, projectsOptions);
  const tasks = createServiceClient(TaskService, projectsOptions);
  const audit = deps.auditUrl
    ? createServiceClient(AuditService, {
        ...clientOptions,
        baseUrl: deps.auditUrl,
        interceptors: [telemetryClientInterceptor(), exchangeInterceptor(exchanger, AUDIT_AUDIENCE)],
      })
    : undefined;
  const identityOptions = {
    ...clientOptions,
    baseUrl: deps.identityUrl ?? "",
    interceptors: [telemetryClientInterceptor(), exchangeInterceptor(exchanger, IDENTITY_AUDIENCE)],
  };
  const identity: IdentityClients | undefined = deps.identityUrl
    ? {
        memberships: createServiceClient(MembershipService, identityOptions),
        apiKeys: createServiceClient(ApiKeyService, identityOptions),
        sessions: createServiceClient(SessionService, identityOptions),
        users: createServiceClient(UserService, identityOptions),
        mfa: createServiceClient(MfaService, identityOptions),
        scim: createServiceClient(ScimService, identityOptions),
        sso: createServiceClient(SsoService, identityOptions),
      }
    : undefined;
  app.addHook("onClose", async () => {
    closeServiceClient(projects);
    closeServiceClient(tasks);
    if (audit) closeServiceClient(audit);
    for (const client of Object.values(identity ?? {})) closeServiceClient(client);
  });

  const auth: onRequestHookHandler = authenticate(exchanger, deps.rateLimiter);
  const idempotency = idempotencyPreHandler(deps.idempotency, log) as preHandlerHookHandler;
  const registered: RegisteredRoute[] = [];
  app.decorate("registeredRoutes", registered);
  app.addHook("onRoute", (route: RouteOptions) => {
    const meta = route.config?.tessera;
    for (const method of asArray(route.method)) {
      const hidden = (route.schema as { hide?: boolean } | undefined)?.hide === true;
      registered.push({ method, url: route.url, hidden, meta });
    }
    if (!meta?.auth) return;
    route.onRequest = [...asArray(route.onRequest), auth];
    if (meta.idempotent) route.preHandler = [...asArray(route.preHandler), idempotency];
    const handler = route.handler;
    route.handler = function scoped(req, reply) {
      return inRequestScope(stateOf(req), () => handler.call(this, req, reply));
    };
  });

  app.addHook("onRequest", startRequestSpan);
  app.addHook("onSend", async (req, reply, payload) => {
    const state = stateOf(req);
    reply.header("x-request-id", state.requestId);
    if (state.rateLimit) reply.headers(rateLimitHeaders(state.rateLimit));
    const version = versionOfPath(req.url);
    if (version) reply.headers(lifecycleHeaders(deps.versions?.[version]));
    if (!state.replayed) await settleIdempotency(req, reply, payload, log);
    return payload;
  });
  app.addHook("onResponse", finishRequest(log));
  app.setErrorHandler(problemErrorHandler(log));

  await registerOpenApi(app, {
    version: deps.apiVersion ?? "1.0.0",
    publicBaseUrl: deps.publicBaseUrl,
    v1: deps.versions?.v1,
  });
  app.get("/healthz", { schema: { hide: true } }, async () => ({ status: "ok" }));
  projectRoutes(app, projects);
  taskRoutes(app, tasks);
  commentRoutes(app, tasks);
  auditEventRoutes(app, audit);
  memberRoutes(app, identity);
  apiKeyRoutes(app, identity);
  sessionRoutes(app, identity);
  mfaPolicyRoutes(app, identity);
  scimRoutes(app, identity);
  ssoConnectionRoutes(app, identity);
  ssoProxyRoutes(app, deps.identityHttpUrl);
  return app;
}
