import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { currentContext } from "../context/index.ts";
import type { Logger } from "../log/index.ts";

/**
 * Where a client's calls go, per tenant: the tenant of the current request context (see
 * `currentContext`) is asked for its own instance of the service; calls without a tenant, and
 * tenants without an instance of their own, go to the client's `baseUrl`.
 */
export interface ServiceRoute {
  /**
   * The base URL (`http(s)://host:port`) of the tenant's own instance of the service, or undefined
   * when the tenant has none. A rejection fails the call with UNAVAILABLE: a tenant whose placement
   * is unknown is never sent to the shared instance by accident.
   */
  endpointOf(tenantId: string): Promise<string | undefined>;
  /**
   * Connections to tenants' instances held at most (least recently used close first, once their
   * calls have ended). Default 64.
   */
  readonly maxEndpoints?: number;
}

/** One base URL's transport (with the client's interceptors, deadline and retries) and its connection. */
export interface Target {
  readonly transport: Transport;
  /** Closes the connection, cancelling its open calls. */
  close(): void;
}

/** What {@link routingTransport} needs from the client that owns it. */
export interface RoutingOptions {
  /** The service's type name, for messages and logs. */
  readonly service: string;
  readonly route: ServiceRoute;
  /** The transport to `baseUrl`. */
  readonly fallback: Target;
  readonly fallbackUrl: URL;
  /** Opens a transport to another base URL, behaving like the fallback one. */
  readonly connect: (url: URL) => Target;
  readonly defaultTimeoutMs: number;
  readonly log: Logger;
}

/** A connection to one tenant endpoint, closed once evicted and idle. */
class Pooled {
  #inFlight = 0;
  #busyUntil = 0;
  #evicted = false;
  #closed = false;
  readonly target: Target;
  readonly #onClose: () => void;

  constructor(target: Target, onClose: () => void) {
    this.target = target;
    this.#onClose = onClose;
  }

  /** Counts a call with this deadline; the returned function ends it (idempotent). */
  begin(deadline: number): () => void {
    this.#inFlight++;
    this.#busyUntil = Math.max(this.#busyUntil, deadline);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#inFlight--;
      if (this.#evicted && this.#inFlight === 0) this.close();
    };
  }

  /** Closes now when idle; otherwise when the last call ends, at the latest past its deadline. */
  evict(): void {
    this.#evicted = true;
    if (this.#inFlight === 0) {
      this.close();
      return;
    }
    // a stream whose reader walked away never reports its end; its deadline still ends it
    setTimeout(() => this.close(), Math.max(0, this.#busyUntil - Date.now()) + 1_000).unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.target.close();
    this.#onClose();
  }
}

const DEFAULT_MAX_ENDPOINTS = 64;

/**
 * A transport that sends each call to the current tenant's own instance of the service (see
 * {@link ServiceRoute}), with one transport per endpoint kept in a small LRU. The time spent
 * finding the endpoint counts against the call's deadline; retries stay on the chosen endpoint.
 */
export function routingTransport(options: RoutingOptions): Target {
  const { route, fallback, service, log } = options;
  const maxEndpoints = route.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
  if (!Number.isInteger(maxEndpoints) || maxEndpoints < 1)
    throw new Error("route.maxEndpoints must be an integer >= 1");
  const fallbackKey = keyOf(options.fallbackUrl);
  /** Insertion order is recency order. */
  const pool = new Map<string, Pooled>();
  const draining = new Set<Pooled>();
  let closed = false;

  /** The endpoint's pooled connection, with a call until `deadline` counted on it. */
  function pooled(url: URL, deadline: number): { transport: Transport; end: () => void } {
    const key = keyOf(url);
    let entry = pool.get(key);
    if (entry) {
      pool.delete(key);
      pool.set(key, entry);
      return { transport: entry.target.transport, end: entry.begin(deadline) };
    }
    const created: Pooled = new Pooled(options.connect(url), () => draining.delete(created));
    entry = created;
    pool.set(key, entry);
    while (pool.size > maxEndpoints) {
      const [oldestKey, oldest] = pool.entries().next().value as [string, Pooled];
      pool.delete(oldestKey);
      draining.add(oldest);
      oldest.evict();
      log.debug({ service, endpoint: oldestKey }, "closing the least recently used tenant endpoint connection");
    }
    return { transport: entry.target.transport, end: entry.begin(deadline) };
  }

  /**
   * Where a call in the current context goes: undefined for the fallback, else a tenant's pooled
   * endpoint with the call already counted on it (so it cannot be closed under the call).
   */
  async function pick(method: DescMethod, signal: AbortSignal | undefined, budgetMs: number, started: number) {
    const tenantId = currentContext()?.tenantId;
    if (!tenantId) return undefined;
    let endpoint: string | undefined;
    try {
      endpoint = await withinBudget(route.endpointOf(tenantId), budgetMs, signal);
    } catch (err) {
      if (err instanceof ConnectError && err.cause === BUDGET) throw err;
      const cause = ConnectError.from(err);
      log.warn({ err: cause, service, rpc: method.name }, "cannot route call: the tenant's placement is unavailable");
      throw new ConnectError(
        `cannot route ${service} for the tenant: its placement is unavailable (${cause.rawMessage})`,
        Code.Unavailable,
        undefined,
        undefined,
        err,
      );
    }
    if (endpoint === undefined) return undefined;
    const url = parseEndpoint(endpoint);
    if (!url) {
      log.error(
        { service, rpc: method.name, endpoint: redacted(endpoint) },
        "refusing to route call: the tenant's directory entry names an endpoint that is not an http(s) URL",
      );
      throw new ConnectError(
        `cannot route ${service} for the tenant: its directory entry names an endpoint that is not an http(s) URL`,
        Code.Unavailable,
      );
    }
    if (keyOf(url) === fallbackKey) return undefined;
    if (closed) throw new ConnectError("the client is closed", Code.Unavailable);
    return pooled(url, started + budgetMs);
  }

  const effective = (timeoutMs: number | undefined) =>
    timeoutMs === undefined || timeoutMs <= 0 ? options.defaultTimeoutMs : timeoutMs;
  const left = (budgetMs: number, started: number) => {
    const ms = budgetMs - (Date.now() - started);
    if (ms <= 0) throw new ConnectError(`deadline exceeded while routing ${service}`, Code.DeadlineExceeded);
    return ms;
  };

  const transport: Transport = {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const started = Date.now();
      const budget = effective(timeoutMs);
      const routed = await pick(method, signal, budget, started);
      try {
        const remaining = left(budget, started);
        if (!routed) return await fallback.transport.unary(method, signal, remaining, header, input, contextValues);
        return await routed.transport.unary(method, signal, remaining, header, input, contextValues);
      } finally {
        routed?.end();
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const started = Date.now();
      const budget = effective(timeoutMs);
      const routed = await pick(method, signal, budget, started);
      if (!routed)
        return fallback.transport.stream(method, signal, left(budget, started), header, input, contextValues);
      try {
        const remaining = left(budget, started);
        const res = await routed.transport.stream(method, signal, remaining, header, input, contextValues);
        return { ...res, message: endingWith(res.message, routed.end) } as typeof res;
      } catch (err) {
        routed.end();
        throw err;
      }
    },
  };

  return {
    transport,
    close() {
      closed = true;
      fallback.close();
      for (const entry of [...pool.values(), ...draining]) entry.close();
      pool.clear();
    },
  };
}

/** Marks the rejections {@link withinBudget} makes itself. */
const BUDGET = Symbol("routing budget");

/** The promise's outcome, unless the call's deadline passes or it is cancelled first. */
function withinBudget<T>(promise: Promise<T>, budgetMs: number, signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ConnectError("call cancelled while routing", Code.Canceled, undefined, undefined, BUDGET));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      reject(
        new ConnectError(
          "deadline exceeded while finding the tenant's endpoint",
          Code.DeadlineExceeded,
          undefined,
          undefined,
          BUDGET,
        ),
      );
    }, budgetMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** An endpoint as a base URL: http(s), a host, no credentials, query or fragment; else undefined. */
function parseEndpoint(endpoint: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.hostname === "" || url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "") {
    return undefined;
  }
  return url;
}

function keyOf(url: URL): string {
  return url.href.replace(/\/+$/, "");
}

/** An endpoint fit for a log line: never one that may carry credentials, never unbounded. */
function redacted(endpoint: string): string {
  return endpoint.includes("@") ? "<redacted: contains credentials>" : endpoint.slice(0, 200);
}

function endingWith<T>(source: AsyncIterable<T>, end: () => void): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      try {
        yield* source;
      } finally {
        end();
      }
    },
  };
}
