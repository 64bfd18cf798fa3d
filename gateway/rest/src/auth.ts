import { SpanStatusCode } from "@opentelemetry/api";
import { credentialFromHeaders, type EdgeCredential, type TokenExchanger } from "@tessera/platform/edge";
import type { FastifyRequest } from "fastify";
import { decodeJwt } from "jose";
import { tracer } from "./observability.ts";
import { fromDomainError, isDomainError, ProblemError, wwwAuthenticate } from "./problems.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { inRequestScope, stateOf } from "./request-state.ts";

/** The audience the edge exchanges credentials for: the service behind /v1. */
export const PROJECTS_AUDIENCE = "projects";
/** The audience of /v1/audit-events' calls (a second exchange, for those routes only). */
export const AUDIT_AUDIENCE = "audit";
/** The audience of the tenant-administration routes' calls (/v1/members, …): identity. */
export const IDENTITY_AUDIENCE = "identity";

function singleHeader(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  if (Array.isArray(value)) {
    throw new ProblemError("unauthenticated", `Send one ${name} header.`, undefined, {
      "www-authenticate": wwwAuthenticate(true),
    });
  }
  return value;
}

function readCredential(req: FastifyRequest): EdgeCredential {
  let credential: EdgeCredential | undefined;
  try {
    credential = credentialFromHeaders(singleHeader(req, "authorization"), singleHeader(req, "x-api-key"));
  } catch (err) {
    throw isDomainError(err) ? fromDomainError(err) : err;
  }
  if (!credential) {
    throw new ProblemError(
      "unauthenticated",
      "Send an API key (Authorization: Bearer tsk_live_…, or X-Api-Key) or a user access token.",
      undefined,
      { "www-authenticate": wwwAuthenticate(false) },
    );
  }
  return credential;
}

/**
 * The hook that guards every /v1 API route, before the body is read: reads the credential
 * (401 when missing or malformed), exchanges it at identity for an internal token of the projects
 * service (401 when unknown, expired or revoked; 403 when the tenant is not active), takes the
 * tenant from that identity-signed token, and counts the request against the tenant's plan
 * (429 with Retry-After beyond it).
 */
export function authenticate(exchanger: TokenExchanger, limiter: RateLimiter | undefined) {
  return async (req: FastifyRequest): Promise<void> => {
    const state = stateOf(req);
    const credential = readCredential(req);
    state.credential = credential;
    const token = await inRequestScope(state, () =>
      tracer().startActiveSpan(
        "token exchange",
        { attributes: { "tessera.credential.kind": credential.kind } },
        (span) =>
          exchanger.internalToken(credential, PROJECTS_AUDIENCE).then(
            (t) => {
              span.end();
              return t;
            },
            (err: unknown) => {
              span.setStatus({ code: SpanStatusCode.ERROR });
              span.end();
              throw err;
            },
          ),
      ),
    );
    const claims = decodeJwt(token);
    if (typeof claims.tid !== "string" || claims.tid === "") {
      throw new ProblemError("forbidden", "This API acts for a tenant: use a tenant's API key or a member's token.");
    }
    state.tenantId = claims.tid;
    state.subject = typeof claims.sub === "string" ? claims.sub : undefined;
    if (!limiter) return;
    const decision = await limiter.take(claims.tid);
    state.rateLimit = decision;
    if (!decision.allowed) {
      throw new ProblemError(
        "rate-limited",
        `The tenant's plan allows ${decision.limit} requests per minute; retry after ${decision.resetSeconds} s.`,
        undefined,
        { "retry-after": String(decision.resetSeconds) },
      );
    }
  };
}
