import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes, randomUUID } from "node:crypto";

/** Who is calling: a user, an API key or a service, as the verified internal token says. */
export interface Principal {
  /** Token subject: user id, API key id or service name. */
  readonly subject: string;
  readonly kind: "user" | "api_key" | "service" | "system";
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** The chain of edges/services that acted on the subject's behalf (RFC 8693 `act`), outermost first. */
  readonly actorChain: readonly string[];
  /** How a user proved who they are (`amr`, `acr`, `auth_time` claims); absent for other callers. */
  readonly authentication?: Authentication;
}

/** A user's sign-in as their token records it (OpenID Connect `amr`, `acr`, `auth_time`). */
export interface Authentication {
  /** Methods used (RFC 8176): `pwd`, `otp`, `rcv` (recovery code), … */
  readonly amr: readonly string[];
  /** The assurance level: `urn:tessera:acr:mfa` after a second factor, `urn:tessera:acr:pwd` otherwise. */
  readonly acr: string | undefined;
  /** When the user last actively authenticated (not when the token was refreshed). */
  readonly authTime: Date | undefined;
}

/** What every unit of work carries: set once at the edge (or by the auth interceptor), read everywhere. */
export interface RequestContext {
  readonly requestId: string;
  /** The tenant the work runs for; undefined only for platform-level work (then logs say so). */
  readonly tenantId: string | undefined;
  readonly principal: Principal | undefined;
  /** The raw internal token, kept only to propagate it on outgoing calls; never logged. */
  readonly token: string | undefined;
  /**
   * W3C trace id of the work: from the caller's `traceparent` when it sent one, else new. Logs use
   * the active OpenTelemetry span's trace id when there is one and this otherwise, so every request
   * line is correlatable even in a process without a tracer.
   */
  readonly traceId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The current context, or undefined outside any request. */
export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

/** The current tenant id; throws when the work is not tenant-scoped (a programming error). */
export function requireTenantId(): string {
  const tenantId = storage.getStore()?.tenantId;
  if (!tenantId) throw new Error("no tenant in context: this code must run inside a tenant-scoped request");
  return tenantId;
}

/** A random W3C trace id (16 bytes, hex). */
export function newTraceId(): string {
  return randomBytes(16).toString("hex");
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** The trace id of a W3C `traceparent` header, or undefined when it is absent or malformed. */
export function traceIdFromTraceparent(header: string | null | undefined): string | undefined {
  const id = header ? TRACEPARENT.exec(header.trim())?.[1] : undefined;
  return id && id !== "0".repeat(32) ? id : undefined;
}

/** Runs fn inside the given context (fields not given are inherited from the current one). */
export function runWithContext<T>(ctx: Partial<RequestContext>, fn: () => T): T {
  const parent = storage.getStore();
  const merged: RequestContext = {
    requestId: ctx.requestId ?? parent?.requestId ?? randomUUID(),
    traceId: ctx.traceId ?? parent?.traceId ?? newTraceId(),
    tenantId: "tenantId" in ctx ? ctx.tenantId : parent?.tenantId,
    principal: "principal" in ctx ? ctx.principal : parent?.principal,
    token: "token" in ctx ? ctx.token : parent?.token,
  };
  return storage.run(merged, fn);
}

/**
 * Runs fn outside any request context: for process-level work that a request merely triggered
 * (a readiness change noticed during a probe), so its log lines do not claim that request.
 */
export function runOutsideContext<T>(fn: () => T): T {
  return storage.exit(fn);
}

/** Runs fn as the given tenant with a system principal (jobs, consumers, sagas). */
export function runAsTenant<T>(tenantId: string, fn: () => T, subject = "system"): T {
  return runWithContext(
    {
      tenantId,
      principal: { subject, kind: "system", roles: [], scopes: [], actorChain: [] },
      token: undefined,
    },
    fn,
  );
}

export { nextWithContext } from "./connect.ts";
