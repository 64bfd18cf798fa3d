import { AsyncLocalStorage } from "node:async_hooks";
import type { DescService } from "@bufbuild/protobuf";
import type { Client, Interceptor } from "@connectrpc/connect";
import { type ServiceTokenSource, serviceTokenInterceptor } from "@tessera/platform/auth";
import { runWithContext } from "@tessera/platform/context";
import {
  type EdgeCredential,
  exchangeInterceptor,
  runWithCredential,
  type TokenExchanger,
} from "@tessera/platform/edge";
import { closeServiceClient, createServiceClient, type ServiceRoute } from "@tessera/platform/rpc-client";
import { telemetryClientInterceptor } from "@tessera/platform/telemetry";
import { placementRoute, type TenantResolver } from "@tessera/platform/tenancy-client";
import { AuditService } from "@tessera/proto/tessera/audit/v1/audit_pb";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { AuthService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MembershipService } from "@tessera/proto/tessera/identity/v1/memberships_pb";
import { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { ScimService } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { SessionService } from "@tessera/proto/tessera/identity/v1/sessions_pb";
import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { UserService } from "@tessera/proto/tessera/identity/v1/users_pb";
import { PasskeyService } from "@tessera/proto/tessera/identity/v1/webauthn_pb";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { TenantService } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import { fromServiceError } from "./errors/mapping.ts";

/** The gRPC clients the gateway calls services with: created once per process. */
export interface ServiceClients {
  /** identity's AuthService with the gateway's own service token (login, refresh, logout). */
  readonly auth: Client<typeof AuthService>;
  /** identity's UserService as the caller (exchanged token, audience `identity`). */
  readonly users: Client<typeof UserService>;
  /** identity's MfaService as the caller (audience `identity`): the caller's factors, the tenant's MFA policy. */
  readonly mfa: Client<typeof MfaService>;
  /** identity's PasskeyService as the caller (audience `identity`): the caller's passkeys. */
  readonly passkeys: Client<typeof PasskeyService>;
  /** identity's MembershipService, ApiKeyService and SessionService as the caller (audience `identity`). */
  readonly memberships: Client<typeof MembershipService>;
  readonly apiKeys: Client<typeof ApiKeyService>;
  readonly sessions: Client<typeof SessionService>;
  /** identity's ScimService as the caller (audience `identity`): the tenant's SCIM tokens and group mapping. */
  readonly scim: Client<typeof ScimService>;
  /** identity's SsoService as the caller (audience `identity`): the tenant's SSO connection. */
  readonly sso: Client<typeof SsoService>;
  /** identity's SsoService with the gateway's own service token: redeeming SSO login codes. */
  readonly ssoLogin: Client<typeof SsoService>;
  /**
   * projects' services as the caller (exchanged token, audience `projects`), at the tenant's own
   * instance when its placement has one (a silo tenant), else at PROJECTS_URL.
   */
  readonly projects: Client<typeof ProjectService>;
  readonly tasks: Client<typeof TaskService>;
  /** tenancy as the caller (audience `tenancy`): a tenant's own users may read their tenant. */
  readonly tenancy: Client<typeof TenantService>;
  /** audit as the caller (audience `audit`): a tenant's owners and admins read its audit log. */
  readonly audit: Client<typeof AuditService>;
}

/** Options of {@link createServiceClients}. */
export interface ServiceClientsOptions {
  readonly identityUrl: string;
  /** projects' shared (pool) instance. */
  readonly projectsUrl: string;
  /** Where a tenant's own instances are found (placement endpoints); without it, always projectsUrl. */
  readonly resolver?: TenantResolver;
  readonly tenancyUrl: string;
  readonly auditUrl: string;
  readonly exchanger: TokenExchanger;
  readonly serviceTokens: ServiceTokenSource;
  /** Deadline of every call that sets none. */
  readonly timeoutMs: number;
  /** Extra client interceptors, after telemetry (tests count calls with one). */
  readonly interceptors?: readonly Interceptor[];
}

/** A request's exchanged tokens by audience, each reused for a short while. */
export type RequestTokens = Map<string, { token: Promise<string>; until: number }>;

const requestTokens = new AsyncLocalStorage<RequestTokens>();

/** How long one request reuses an exchanged token (subscriptions outlive internal tokens). */
const REUSE_MS = 30_000;

/**
 * The exchanger as the clients see it: inside a request, one exchange per audience per 30 s
 * (API keys are otherwise exchanged on every call); outside, the shared one.
 */
function perRequestExchanger(inner: TokenExchanger): TokenExchanger {
  return {
    internalToken(credential, audience) {
      const memo = requestTokens.getStore();
      if (!memo) return inner.internalToken(credential, audience);
      const found = memo.get(audience);
      if (found && Date.now() < found.until) return found.token;
      const token = inner.internalToken(credential, audience);
      const entry = { token, until: Date.now() + REUSE_MS };
      memo.set(audience, entry);
      token.catch(() => {
        if (memo.get(audience) === entry) memo.delete(audience);
      });
      return token;
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

/** Creates the service clients: telemetry first, then the extra interceptors, then credentials. */
export function createServiceClients(options: ServiceClientsOptions): ServiceClients & { close(): void } {
  const exchanger = perRequestExchanger(options.exchanger);
  const make = <S extends DescService>(
    service: S,
    baseUrl: string,
    credentials: Interceptor,
    route?: ServiceRoute,
  ): Client<S> =>
    createServiceClient(service, {
      baseUrl,
      defaultTimeoutMs: options.timeoutMs,
      interceptors: [telemetryClientInterceptor(), ...(options.interceptors ?? []), credentials],
      ...(route && { route }),
    });
  const projectsRoute = options.resolver && placementRoute(options.resolver, "projects");
  const clients = {
    auth: make(AuthService, options.identityUrl, serviceTokenInterceptor(options.serviceTokens, "identity")),
    users: make(UserService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    mfa: make(MfaService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    passkeys: make(PasskeyService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    memberships: make(MembershipService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    apiKeys: make(ApiKeyService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    sessions: make(SessionService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    scim: make(ScimService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    sso: make(SsoService, options.identityUrl, exchangeInterceptor(exchanger, "identity")),
    ssoLogin: make(SsoService, options.identityUrl, serviceTokenInterceptor(options.serviceTokens, "identity")),
    projects: make(ProjectService, options.projectsUrl, exchangeInterceptor(exchanger, "projects"), projectsRoute),
    tasks: make(TaskService, options.projectsUrl, exchangeInterceptor(exchanger, "projects"), projectsRoute),
    tenancy: make(TenantService, options.tenancyUrl, exchangeInterceptor(exchanger, "tenancy")),
    audit: make(AuditService, options.auditUrl, exchangeInterceptor(exchanger, "audit")),
  };
  return {
    ...clients,
    close() {
      for (const client of Object.values(clients)) closeServiceClient(client);
    },
  };
}

/** The internal token a request's credential is exchanged for (audience `identity`), reused by its calls. */
export function requestInternalToken(
  exchanger: TokenExchanger,
  credential: EdgeCredential,
  tokens: RequestTokens,
): Promise<string> {
  return requestTokens.run(tokens, () => perRequestExchanger(exchanger).internalToken(credential, "identity"));
}

/** The request a caller's calls belong to, whatever async context they run in. */
export interface RequestScope {
  readonly requestId: string;
  /** The caller's tenant (from the exchanged token; undefined for platform-level callers). */
  tenantId(): Promise<string | undefined>;
}

/**
 * The clients bound to one request: every call runs with the request's credential (exchanged once
 * per audience per request), its request id and its caller's tenant (which picks the tenant's own
 * instance of a service), and fails with a gateway error (see errors/mapping.ts) rather than a
 * raw gRPC status. Binding explicitly, rather than relying on ambient context, keeps calls made
 * from subscription streams (resumed outside the request's async context) correctly attributed
 * and routed.
 */
export function bindToRequest(
  clients: ServiceClients,
  credential: EdgeCredential | undefined,
  tokens: RequestTokens,
  scope?: RequestScope,
): ServiceClients {
  const asCaller = <T>(call: () => Promise<T>): Promise<T> => {
    const inScope = () => requestTokens.run(tokens, call);
    const run = async () => {
      if (!credential) return inScope();
      if (!scope) return runWithCredential(credential, inScope);
      const tenantId = await scope.tenantId();
      return runWithContext({ requestId: scope.requestId, tenantId }, () => runWithCredential(credential, inScope));
    };
    return run().catch((err: unknown) => {
      throw fromServiceError(err);
    });
  };
  const asGateway = <T>(call: () => Promise<T>): Promise<T> =>
    call().catch((err: unknown) => {
      throw fromServiceError(err);
    });
  return {
    auth: bindClient(clients.auth, asGateway),
    users: bindClient(clients.users, asCaller),
    mfa: bindClient(clients.mfa, asCaller),
    passkeys: bindClient(clients.passkeys, asCaller),
    memberships: bindClient(clients.memberships, asCaller),
    apiKeys: bindClient(clients.apiKeys, asCaller),
    sessions: bindClient(clients.sessions, asCaller),
    scim: bindClient(clients.scim, asCaller),
    sso: bindClient(clients.sso, asCaller),
    ssoLogin: bindClient(clients.ssoLogin, asGateway),
    projects: bindClient(clients.projects, asCaller),
    tasks: bindClient(clients.tasks, asCaller),
    tenancy: bindClient(clients.tenancy, asCaller),
    audit: bindClient(clients.audit, asCaller),
  };
}

function bindClient<C extends object>(client: C, run: <T>(call: () => Promise<T>) => Promise<T>): C {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => run(() => Promise.resolve(value.apply(target, args)));
    },
  });
}
