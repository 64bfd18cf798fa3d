import { Code, ConnectError, createContextKey, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { nextWithContext } from "../context/index.ts";
import { DomainError } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import type { TokenVerifier, VerifiedToken } from "./verifier.ts";

/** Services every caller may reach without a token: Kubernetes probes use gRPC health. */
export const ALWAYS_PUBLIC_SERVICES: readonly string[] = ["grpc.health.v1.Health"];

/** The verified token of the current call, for code that reads Connect context values. */
export const verifiedTokenKey = createContextKey<VerifiedToken | undefined>(undefined, {
  description: "tessera verified internal token",
});

/** Options of {@link authInterceptor}. */
export interface AuthInterceptorOptions {
  verifier: TokenVerifier;
  /** Fully-qualified service type names (e.g. `tessera.tenancy.v1.DirectoryService`) open without a token. */
  publicServices?: readonly string[];
  /** Where rejected calls are logged (with a reason, never the token); the root logger by default. */
  log?: Logger;
}

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
const GENERIC_MESSAGE = "missing or invalid credentials";

function bearerToken(header: string | null): string | undefined {
  if (header === null) return undefined;
  return BEARER.exec(header)?.[1];
}

/**
 * The Connect server interceptor that authenticates every call with the internal token in
 * `authorization: Bearer <jwt>`. Calls to public services (gRPC health and `publicServices`) pass
 * untouched; any other call without a valid token fails with UNAUTHENTICATED and a generic message
 * (the reason is logged). On success the handler runs inside a request context holding the token's
 * tenant, principal and the raw token (for propagation on outgoing calls).
 *
 * Handlers must take the tenant from `requireTenantId()`, never from the request body: the token's
 * tenant is the only one that has been verified.
 */
export function authInterceptor(options: AuthInterceptorOptions): Interceptor {
  const open = new Set([...ALWAYS_PUBLIC_SERVICES, ...(options.publicServices ?? [])]);
  const log = options.log;
  return (next) => async (req) => {
    if (open.has(req.service.typeName)) return next(req);
    const procedure = `/${req.service.typeName}/${req.method.name}`;
    const token = bearerToken(req.header.get("authorization"));
    if (token === undefined) {
      (log ?? rootLogger()).info({ procedure, reason: "no bearer token" }, "call rejected: unauthenticated");
      throw new ConnectError(GENERIC_MESSAGE, Code.Unauthenticated);
    }
    let verified: VerifiedToken;
    try {
      verified = await options.verifier.verify(token);
    } catch (err) {
      const reason = err instanceof DomainError ? err.message : "verification failed";
      if (err instanceof DomainError && err.kind === "Unavailable") {
        (log ?? rootLogger()).warn({ procedure, reason }, "call rejected: cannot verify token");
        throw new ConnectError("authentication temporarily unavailable", Code.Unavailable);
      }
      (log ?? rootLogger()).info({ procedure, reason }, "call rejected: unauthenticated");
      throw new ConnectError(GENERIC_MESSAGE, Code.Unauthenticated);
    }
    req.contextValues.set(verifiedTokenKey, verified);
    return nextWithContext({ tenantId: verified.tenantId, principal: verified.principal, token }, next, req);
  };
}

/**
 * The request gate (see createRpcServer's `requestGate`) in front of {@link authInterceptor}: a
 * call to a non-public service without a bearer token is refused with UNAUTHENTICATED before its
 * body is read, so an anonymous caller never gets a malformed body parsed, and learns nothing but
 * that it must authenticate. Verifying the token stays with the interceptor.
 */
export function credentialGate(options: Pick<AuthInterceptorOptions, "publicServices" | "log">) {
  const open = new Set([...ALWAYS_PUBLIC_SERVICES, ...(options.publicServices ?? [])]);
  return (context: HandlerContext): void => {
    if (open.has(context.service.typeName)) return;
    if (bearerToken(context.requestHeader.get("authorization")) !== undefined) return;
    const procedure = `/${context.service.typeName}/${context.method.name}`;
    (options.log ?? rootLogger()).info({ procedure, reason: "no bearer token" }, "call rejected: unauthenticated");
    throw new ConnectError(GENERIC_MESSAGE, Code.Unauthenticated);
  };
}
