import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { authInterceptor, type TokenVerifier } from "../auth/index.ts";
import type { Logger } from "../log/index.ts";
import { createRpcServer, type ReadinessCheck, type RpcServer, type ShutdownHook } from "../rpc-server/index.ts";
import { telemetryServerInterceptor } from "../telemetry/index.ts";

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
}

/**
 * A service's gRPC server with the platform's standard interceptor chain, outermost first:
 * telemetry (spans, RED metrics) → auth (internal token → tenant and principal in context) →
 * the caller's → error mapping → protovalidate (the last two added by createRpcServer).
 */
export function createServiceServer(options: ServiceServerOptions): RpcServer {
  return createRpcServer({
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
      ...(options.interceptors ?? []),
    ],
    ...(options.host !== undefined && { host: options.host }),
    ...(options.port !== undefined && { port: options.port }),
    ...(options.tls && { tls: options.tls }),
    ...(options.shutdownGraceMs !== undefined && { shutdownGraceMs: options.shutdownGraceMs }),
    ...(options.readinessChecks && { readinessChecks: options.readinessChecks }),
    ...(options.onShutdown && { onShutdown: options.onShutdown }),
  });
}
