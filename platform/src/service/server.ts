import { ConnectError, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { authInterceptor, type TokenVerifier } from "../auth/index.ts";
import { credentialGate } from "../auth/interceptor.ts";
import type { Logger } from "../log/index.ts";
import {
  createRpcServer,
  REFLECTION_SERVICE_NAMES,
  type ReadinessCheck,
  type RpcServer,
  type ShutdownHook,
} from "../rpc-server/index.ts";
import { recordServerRefusal, telemetryServerInterceptor } from "../telemetry/index.ts";
import { markBound, processTenantId, tenantBindingInterceptor } from "./tenant-binding.ts";

/** What a service's `build(deps)` hands to the kit. */
export interface ServiceServerOptions {
  service: string;
  register: (router: ConnectRouter) => void;
  /** Verifies the internal token on every call (health excepted). */
  verifier: TokenVerifier;
  logger: Logger;
  /** Type names of services open without a token (rare: identity's credential endpoints). */
  publicServices?: readonly string[];
  host?: string;
  port?: number;
  tls?: { certFile: string; keyFile: string } | undefined;
  shutdownGraceMs?: number;
  readinessChecks?: readonly ReadinessCheck[];
  onShutdown?: readonly ShutdownHook[];
  /** Extra interceptors, inside auth (they see the caller's context). */
  interceptors?: readonly Interceptor[];
  /**
   * Serve this tenant only: calls acting for another tenant fail with PERMISSION_DENIED (calls for
   * no tenant pass). Default: the process's binding (SERVICE_TENANT_ID, through runService).
   */
  tenantId?: string | undefined;
}

/**
 * A service's gRPC server with the platform's standard interceptor chain, outermost first:
 * telemetry (spans, RED metrics) → auth (internal token → tenant and principal in context) →
 * the tenant binding (when the process serves one tenant) → the caller's → error mapping →
 * the text check → protovalidate (the last three added by createRpcServer). In front of them all,
 * before the body is read, a call without a bearer token is refused (auth's credentialGate).
 */
export function createServiceServer(options: ServiceServerOptions): RpcServer {
  const tenantId = options.tenantId ?? processTenantId();
  const server = createRpcServer({
    service: options.service,
    register: options.register,
    logger: options.logger,
    interceptors: [
      telemetryServerInterceptor(),
      authInterceptor({
        verifier: options.verifier,
        log: options.logger,
        ...(options.publicServices ? { publicServices: options.publicServices } : {}),
      }),
      ...(tenantId === undefined ? [] : [tenantBindingInterceptor(tenantId, options.logger)]),
      ...(options.interceptors ?? []),
    ],
    requestGate: countedGate(
      credentialGate({
        publicServices: [...REFLECTION_SERVICE_NAMES, ...(options.publicServices ?? [])],
        log: options.logger,
      }),
    ),
    ...(options.host !== undefined && { host: options.host }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.tls && { tls: options.tls }),
    ...(options.shutdownGraceMs !== undefined && { shutdownGraceMs: options.shutdownGraceMs }),
    ...(options.readinessChecks && { readinessChecks: options.readinessChecks }),
    ...(options.onShutdown && { onShutdown: options.onShutdown }),
  });
  if (tenantId !== undefined) markBound(server, tenantId);
  return server;
}

/** A request gate whose refusals are counted in the RED metrics like calls that reached a handler. */
function countedGate(gate: (context: HandlerContext) => void): (context: HandlerContext) => void {
  return (context) => {
    const started = performance.now();
    try {
      gate(context);
    } catch (err) {
      const code = err instanceof ConnectError ? err.code : undefined;
      if (code !== undefined)
        recordServerRefusal(context.service.typeName, context.method.name, context.requestHeader, code, started);
      throw err;
    }
  };
}
