import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { credentialFromHeaders, type EdgeCredential, type TokenExchanger } from "@tessera/platform/edge";
import { decodeJwt } from "jose";
import { UnauthenticatedError } from "./errors/gateway-errors.ts";
import { fromServiceError } from "./errors/mapping.ts";
import type { TaskEventSource } from "./events/task-events.ts";
import type { PageLimits } from "./pagination.ts";
import { bindToRequest, type RequestTokens, requestInternalToken, type ServiceClients } from "./services.ts";

/** Who is calling, as identity's exchanged internal token says. */
export interface Session {
  /** The tenant the caller acts in; undefined for platform-level callers. */
  readonly tenantId: string | undefined;
  /** User id or API key id. */
  readonly subject: string;
  readonly kind: string;
}

/** The end user's connection, as identity wants it for login and refresh. */
export interface ClientInfo {
  readonly ip: string;
  readonly userAgent: string;
}

/** Everything a resolver may use; one per GraphQL request. */
export interface GatewayContext {
  readonly requestId: string;
  /** The credential the request carried, if any (never logged). */
  readonly credential: EdgeCredential | undefined;
  readonly clientInfo: ClientInfo;
  /** Service clients acting as this request's caller. */
  readonly rpc: ServiceClients;
  readonly taskEvents: TaskEventSource;
  readonly pages: PageLimits;
  /** Aborted when the gateway shuts down (ends subscriptions). */
  readonly shutdown: AbortSignal;
  /** The caller, established by exchanging the credential once; UnauthenticatedError without one. */
  session(): Promise<Session>;
  /** Whether session() has succeeded for this request (scope-auth's `authenticated`). */
  hasSession(): boolean;
  /**
   * Asks identity again whether the credential still holds (long-lived subscriptions): rejects
   * once it expired, was revoked, or the tenant was suspended.
   */
  revalidate(): Promise<void>;
}

/** What the context factory needs, once per process. */
export interface ContextDeps {
  readonly clients: ServiceClients;
  readonly exchanger: TokenExchanger;
  readonly taskEvents: TaskEventSource;
  readonly pages: PageLimits;
  readonly shutdown: AbortSignal;
  /** Proxies in front of the gateway whose X-Forwarded-For entries are trusted (0: use the peer address). */
  readonly trustedProxyHops: number;
}

/**
 * Builds the per-request context from the HTTP request. A malformed credential (say, a Basic
 * header) is refused when first needed rather than ignored.
 */
export function createContext(
  deps: ContextDeps,
  req: IncomingMessage,
  requestId: string = randomUUID(),
): GatewayContext {
  let credential: EdgeCredential | undefined;
  let credentialError: unknown;
  try {
    credential = credentialFromHeaders(req.headers.authorization, header(req, "x-api-key"));
  } catch (err) {
    credentialError = err;
  }
  const tokens: RequestTokens = new Map();
  let session: Promise<Session> | undefined;
  let established = false;
  const establish = (): Promise<Session> => {
    session ??= (async () => {
      if (credentialError !== undefined) throw fromServiceError(credentialError);
      if (!credential) throw new UnauthenticatedError();
      const token = await requestInternalToken(deps.exchanger, credential, tokens).catch((err: unknown) => {
        throw fromServiceError(err);
      });
      const claims = decodeJwt(token);
      established = true;
      return {
        tenantId: typeof claims.tid === "string" ? claims.tid.toLowerCase() : undefined,
        subject: String(claims.sub ?? ""),
        kind: String(claims.kind ?? ""),
      };
    })();
    return session;
  };
  return {
    requestId,
    credential,
    clientInfo: {
      ip: clientIp(req, deps.trustedProxyHops),
      userAgent: (header(req, "user-agent") ?? "").slice(0, 512),
    },
    rpc: bindToRequest(deps.clients, credential, tokens, {
      requestId,
      tenantId: async () => (await establish()).tenantId,
    }),
    taskEvents: deps.taskEvents,
    pages: deps.pages,
    shutdown: deps.shutdown,
    session: establish,
    hasSession: () => established,
    async revalidate() {
      if (!credential) throw new UnauthenticatedError();
      await requestInternalToken(deps.exchanger, credential, new Map()).catch((err: unknown) => {
        throw fromServiceError(err);
      });
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The end user's address: the peer, or with trusted proxies the entry that many hops from the
 * right of X-Forwarded-For (entries further left are client-controlled and never trusted).
 */
export function clientIp(req: IncomingMessage, trustedHops: number): string {
  const peer = normaliseIp(req.socket.remoteAddress ?? "");
  if (trustedHops <= 0) return peer ?? "0.0.0.0";
  const forwarded = (header(req, "x-forwarded-for") ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const candidate = forwarded[forwarded.length - trustedHops];
  return (candidate !== undefined ? normaliseIp(candidate) : undefined) ?? peer ?? "0.0.0.0";
}

function normaliseIp(value: string): string | undefined {
  const v = value.startsWith("::ffff:") && isIP(value.slice(7)) === 4 ? value.slice(7) : value;
  return isIP(v) === 0 ? undefined : v;
}
