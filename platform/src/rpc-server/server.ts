import { readFileSync } from "node:fs";
import http2 from "node:http2";
import { type AddressInfo, Server } from "node:net";
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { createValidateInterceptor } from "@connectrpc/validate";
import { newTraceId, runWithContext, traceIdFromTraceparent } from "../context/index.ts";
import { errorInterceptor } from "../errors/index.ts";
import { type Logger, rootLogger } from "../log/index.ts";
import { createNodeHandler } from "./adapter.ts";
import { ConnectionTracker } from "./connections.ts";
import { HEALTH_SERVICE_NAME, HealthRegistry, type ReadinessCheck, registerHealthService } from "./health.ts";
import { REFLECTION_SERVICE_NAMES, registerReflectionService } from "./reflection.ts";
import { REQUEST_ID_HEADER, requestIdFrom } from "./request-id.ts";
import { requestTextInterceptor } from "./request-text.ts";
import { runShutdownHooks, type ShutdownHook } from "./shutdown-hooks.ts";

/** What createRpcServer builds a server from; only `service` and `register` are required. */
export interface RpcServerOptions {
  /** Service name, for logs. */
  readonly service: string;
  /** Registers the service implementations (`router.service(...)`). */
  readonly register: (router: ConnectRouter) => void;
  /**
   * Caller interceptors (auth, telemetry), outermost first. The server always adds, innermost,
   * error mapping, the text check (no NUL or lone surrogate in any string field) and then
   * protovalidate request validation. The health and reflection services bypass them.
   */
  readonly interceptors?: readonly Interceptor[];
  readonly logger?: Logger;
  /** Interface to bind; default 127.0.0.1. */
  readonly host?: string;
  /** Port to bind; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Serve TLS (HTTP/2 with HTTP/1.1 fallback) instead of cleartext HTTP/2 (h2c). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  /** How long shutdown waits for in-flight calls before it cancels them; default 10 000 ms. */
  readonly shutdownGraceMs?: number;
  /** Run in order after in-flight calls finished (NATS drain, DB close), within the grace period. */
  readonly onShutdown?: readonly ShutdownHook[];
  /** Dependencies that must be up for the server to report ready. */
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** Deadline of each readiness check; default 2 000 ms. */
  readonly readinessCheckTimeoutMs?: number;
  /** How often readiness is re-evaluated while a health Watch is open; default 5 000 ms. */
  readonly readinessPollMs?: number;
  /** Largest request message accepted; default 4 MiB (gRPC's default). */
  readonly readMaxBytes?: number;
  /**
   * Runs when a call's headers are in, before any of its body is read or parsed: throw a
   * ConnectError to refuse the call cheaply (a missing credential answers UNAUTHENTICATED even
   * when the body is malformed). It sees every call, health and reflection included.
   */
  readonly requestGate?: (context: HandlerContext) => void | Promise<void>;
}

/** How a shutdown ended. */
export interface ShutdownOutcome {
  /** True when the grace period ran out and calls or connections were cut. */
  readonly forced: boolean;
  /** Number of onShutdown hooks that failed or overran. */
  readonly hookFailures: number;
}

/** A server built by createRpcServer; nothing listens until `listen()`. */
export interface RpcServer {
  readonly service: string;
  /** Binds and serves gRPC, gRPC-Web and Connect on one port. */
  listen(): Promise<{ port: number; url: string }>;
  /**
   * Graceful shutdown: readiness NOT_SERVING at once, no new connections, in-flight calls
   * finish, sessions close, onShutdown hooks run; after `shutdownGraceMs` everything is cut.
   * Calling it again returns the same promise.
   */
  shutdown(reason?: string): Promise<ShutdownOutcome>;
  /** Switches a health entry on or off (see HealthRegistry for the naming convention). */
  setServing(name: string, serving: boolean): void;
  /** Calls being served right now, health probes excluded. */
  inFlight(): number;
  /** True from the moment shutdown starts. */
  isShuttingDown(): boolean;
  /** The health state behind grpc.health.v1.Health. */
  readonly health: HealthRegistry;
}

/** Probes and tooling streams (health Watch, reflection) are not calls a graceful shutdown waits for. */
const UNCOUNTED_PATH_PREFIXES = [HEALTH_SERVICE_NAME, ...REFLECTION_SERVICE_NAMES].map((name) => `/${name}/`);
/** Hooks still get this long when the grace period is already spent, so resources close cleanly. */
const MIN_HOOK_BUDGET_MS = 1_000;
/** After the grace period, how long cancelled calls get to send their UNAVAILABLE answer. */
const CANCEL_SETTLE_MS = 250;

/**
 * Builds an RPC server (un-started): Connect handlers over node:http2, health, server reflection,
 * protocol-level refusals in the caller's protocol (adapter.ts), graceful shutdown.
 */
export function createRpcServer(options: RpcServerOptions): RpcServer {
  const log = (options.logger ?? rootLogger()).child({ component: "rpc-server" });
  const graceMs = options.shutdownGraceMs ?? 10_000;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error(`${options.service}: shutdownGraceMs must be >= 0`);
  const health = new HealthRegistry({
    checks: options.readinessChecks ?? [],
    checkTimeoutMs: options.readinessCheckTimeoutMs ?? 2_000,
    pollIntervalMs: options.readinessPollMs ?? 5_000,
    log,
  });
  const shutdownSignal = new AbortController();
  const kitInterceptors = [errorInterceptor(log), requestTextInterceptor(), createValidateInterceptor()];
  const baseInterceptors = [...(options.interceptors ?? []), ...kitInterceptors];

  const handler = createNodeHandler({
    interceptors: baseInterceptors,
    shutdownSignal: shutdownSignal.signal,
    readMaxBytes: options.readMaxBytes ?? 4 * 1024 * 1024,
    requestGate: options.requestGate,
    log,
    routes: (router) => {
      options.register(trackingRouter(router, health, options.interceptors ?? [], kitInterceptors));
      const inputChecks = [errorInterceptor(log), requestTextInterceptor()];
      registerHealthService(router, health, inputChecks);
      registerReflectionService(router, inputChecks);
    },
  });

  const server = options.tls
    ? http2.createSecureServer({
        cert: readTlsFile(options.tls.certFile, "certificate"),
        key: readTlsFile(options.tls.keyFile, "private key"),
        allowHTTP1: true,
      })
    : http2.createServer();
  const connections = new ConnectionTracker(server);

  server.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.httpVersionMajor === 1) connections.markHttp1(req.socket);
    if (!UNCOUNTED_PATH_PREFIXES.some((prefix) => req.url.startsWith(prefix))) res.once("close", connections.begin());
    const requestId = requestIdFrom(req.headers[REQUEST_ID_HEADER]);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const traceparent = req.headers.traceparent;
    const traceId = traceIdFromTraceparent(Array.isArray(traceparent) ? traceparent[0] : traceparent) ?? newTraceId();
    runWithContext({ requestId, traceId, tenantId: undefined, principal: undefined, token: undefined }, () =>
      handler(req, res),
    );
  });
  server.on("sessionError", (err) => log.debug({ err }, "http/2 session error"));

  let shuttingDown = false;
  let shutdownPromise: Promise<ShutdownOutcome> | undefined;
  let listening = false;

  async function runShutdown(reason: string): Promise<ShutdownOutcome> {
    const started = Date.now();
    const deadline = started + graceMs;
    log.info({ reason, in_flight: connections.inFlight(), grace_ms: graceMs }, "shutting down");
    health.beginShutdown();
    // Http2Server#close() also sends GOAWAY on every session, which would refuse the health
    // probes and calls that still arrive on open connections while they drain; the base
    // net.Server close only stops accepting new connections.
    if (listening) Reflect.apply(Server.prototype.close, server, []);

    let forced = !(await beforeDeadline(connections.idle(), deadline));
    health.closeWatchers();
    if (!forced) {
      connections.closeSessions();
      connections.destroyHttp1Sockets();
      forced = !(await beforeDeadline(connections.allClosed(), deadline));
    }
    if (forced) {
      log.warn({ in_flight: connections.inFlight() }, "grace period over: cancelling remaining calls");
      shutdownSignal.abort(new ConnectError("server is shutting down", Code.Unavailable));
      // Cancelled handlers can still answer UNAVAILABLE (which callers may retry elsewhere)
      // rather than leave them with a reset stream, if given a moment.
      await beforeDeadline(connections.idle(), Date.now() + CANCEL_SETTLE_MS);
      connections.destroyAll();
    }
    const hookFailures = await runShutdownHooks(
      options.onShutdown ?? [],
      Math.max(deadline - Date.now(), MIN_HOOK_BUDGET_MS),
      log,
    );
    log.info({ forced, hook_failures: hookFailures, duration_ms: Date.now() - started }, "shut down");
    return { forced, hookFailures };
  }

  return {
    service: options.service,
    health,
    async listen() {
      if (shuttingDown) throw new Error(`${options.service}: cannot listen after shutdown started`);
      const host = options.host ?? "127.0.0.1";
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error) =>
          reject(
            new Error(`${options.service}: cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, {
              cause: err,
            }),
          );
        server.once("error", onError);
        server.listen({ host, port: options.port ?? 0 }, () => {
          server.off("error", onError);
          resolve();
        });
      });
      listening = true;
      server.on("error", (err) => log.error({ err }, "server error"));
      const { port } = server.address() as AddressInfo;
      const url = `${options.tls ? "https" : "http"}://${urlHost(host)}:${port}`;
      log.info({ port, url, tls: options.tls !== undefined }, "listening");
      return { port, url };
    },
    shutdown(reason = "shutdown requested") {
      shuttingDown = true;
      shutdownPromise ??= runShutdown(reason);
      return shutdownPromise;
    },
    setServing: (name, serving) => health.setServing(name, serving),
    inFlight: () => connections.inFlight(),
    isShuttingDown: () => shuttingDown,
  };
}

/**
 * Passes the service's router on, noting each registered service for health, and keeping the
 * kit's interceptors innermost when a service brings interceptors of its own.
 */
function trackingRouter(
  router: ConnectRouter,
  health: HealthRegistry,
  callerInterceptors: readonly Interceptor[],
  kitInterceptors: readonly Interceptor[],
): ConnectRouter {
  const withKit = <O extends { interceptors?: Interceptor[] }>(opts: O | undefined): O | undefined =>
    opts?.interceptors === undefined
      ? opts
      : { ...opts, interceptors: [...callerInterceptors, ...opts.interceptors, ...kitInterceptors] };
  const wrapped: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service(desc, impl, opts) {
      health.addService(desc.typeName);
      router.service(desc, impl, withKit(opts));
      return wrapped;
    },
    rpc(method, impl, opts) {
      health.addService(method.parent.typeName);
      router.rpc(method, impl, withKit(opts));
      return wrapped;
    },
  };
  return wrapped;
}

function readTlsFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read TLS ${what} from ${path}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** Resolves true when `work` settles before the deadline, false when the deadline comes first. */
async function beforeDeadline(work: Promise<void>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(() => true as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
