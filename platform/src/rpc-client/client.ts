import type http2 from "node:http2";
import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { type Logger, rootLogger } from "../log/index.ts";
import { propagationInterceptor } from "./propagation.ts";
import {
  backoffMs,
  DEFAULT_RETRY_POLICY,
  isRetryableError,
  isRetryableMethod,
  type RetryPolicy,
  sleep,
  validateRetryPolicy,
} from "./retry.ts";
import { routingTransport, type ServiceRoute, type Target } from "./routing.ts";

/** Where a client connects and how its calls behave. */
export interface ServiceClientOptions {
  /** `http://host:port` (h2c) or `https://host:port`. */
  readonly baseUrl: string;
  /** Deadline of a call that sets no `timeoutMs` (or sets one <= 0); default 5 000 ms. */
  readonly defaultTimeoutMs?: number;
  /** Retries on UNAVAILABLE for idempotent methods; default DEFAULT_RETRY_POLICY, `false` for none. */
  readonly retry?: RetryPolicy | false;
  /** Extra interceptors (telemetry), outermost first; they run once per attempt. */
  readonly interceptors?: readonly Interceptor[];
  /** TLS and socket options for the HTTP/2 session (e.g. `ca` for a private CA). */
  readonly nodeOptions?: http2.ClientSessionOptions | http2.SecureClientSessionOptions;
  readonly logger?: Logger;
  /**
   * Sends each call of a tenant that has its own instance of the service there (same interceptors,
   * deadline and retries), and every other call to `baseUrl`; see {@link ServiceRoute}.
   */
  readonly route?: ServiceRoute;
}

const closers = new WeakMap<object, () => void>();

/**
 * A typed gRPC client (Connect's gRPC protocol over one HTTP/2 connection) on which every call
 * has a deadline, carries the current request context, and is retried with backoff on
 * UNAVAILABLE when the proto marks the method idempotent, never past its deadline. With `route`,
 * a tenant's calls may go to the tenant's own instance of the service (one connection each).
 */
export function createServiceClient<S extends DescService>(service: S, options: ServiceClientOptions): Client<S> {
  const url = parseBaseUrl(options.baseUrl);
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 5_000;
  if (!(defaultTimeoutMs > 0)) throw new Error("defaultTimeoutMs must be > 0: every call needs a deadline");
  const policy = options.retry === false ? undefined : validateRetryPolicy(options.retry ?? DEFAULT_RETRY_POLICY);
  const log = options.logger ?? rootLogger();
  const connect = (target: URL): Target => {
    const sessionManager = new Http2SessionManager(target, { connectTimeoutMs: defaultTimeoutMs }, options.nodeOptions);
    const inner = createGrpcTransport({
      baseUrl: target.toString().replace(/\/$/, ""),
      sessionManager,
      interceptors: [...(options.interceptors ?? []), propagationInterceptor()],
      defaultTimeoutMs,
    });
    return {
      transport: deadlineTransport(inner, defaultTimeoutMs, policy, log),
      close: () => sessionManager.abort(),
    };
  };
  const fallback = connect(url);
  const target = options.route
    ? routingTransport({
        service: service.typeName,
        route: options.route,
        fallback,
        fallbackUrl: url,
        connect,
        defaultTimeoutMs,
        log,
      })
    : fallback;
  const client = createClient(service, target.transport);
  closers.set(client, () => target.close());
  return client;
}

/** Closes the client's HTTP/2 connections (cancelling their open calls). */
export function closeServiceClient(client: object): void {
  closers.get(client)?.();
}

function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new Error(`baseUrl is not a URL: ${JSON.stringify(baseUrl)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`baseUrl must be http:// or https://, got ${url.protocol}`);
  }
  return url;
}

/**
 * Wraps a transport so that each call runs under one deadline (the caller's, or the default),
 * and idempotent unary calls are re-sent on UNAVAILABLE, each attempt with the time that is left.
 */
function deadlineTransport(
  inner: Transport,
  defaultTimeoutMs: number,
  policy: RetryPolicy | undefined,
  log: Logger,
): Transport {
  const effective = (timeoutMs: number | undefined) =>
    timeoutMs === undefined || timeoutMs <= 0 ? defaultTimeoutMs : timeoutMs;
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const deadline = Date.now() + effective(timeoutMs);
      const attempts = policy && isRetryableMethod(method) ? policy.maxAttempts : 1;
      for (let attempt = 1; ; attempt++) {
        try {
          return await inner.unary(method, signal, Math.max(1, deadline - Date.now()), header, input, contextValues);
        } catch (err) {
          if (!policy || attempt >= attempts || !isRetryableError(err)) throw err;
          const wait = backoffMs(policy, attempt);
          // A retry that could not even start before the deadline only hides the real cause.
          if (Date.now() + wait >= deadline) throw err;
          log.debug({ rpc: `${method.parent.typeName}/${method.name}`, attempt, backoff_ms: wait }, "retrying call");
          await sleep(wait, signal);
        }
      }
    },
    stream(method, signal, timeoutMs, header, input, contextValues) {
      return inner.stream(method, signal, effective(timeoutMs), header, input, contextValues);
    },
  };
}
