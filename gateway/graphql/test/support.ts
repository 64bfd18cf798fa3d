import type { AddressInfo } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { parseConfig } from "@tessera/platform/config";
import { createLogger } from "@tessera/platform/log";
import { captureLogs, type TestPlatform } from "@tessera/test/harness";
import { configSchema, type GatewayConfig } from "../src/config.ts";
import { type ConnectedDeps, connectDeps } from "../src/deps.ts";
import { build, type Gateway } from "../src/server.ts";

/** One GraphQL answer as a client sees it. */
export interface GqlResponse {
  status: number;
  body: {
    data?: Record<string, unknown> | null;
    errors?: Array<{ message: string; path?: unknown[]; extensions?: Record<string, unknown> }>;
  };
}

/** Calls made by the gateway's service clients, by `package.Service/Method`. */
export interface RpcCounter {
  readonly interceptor: Interceptor;
  readonly calls: string[];
  /** Runs fn and answers the calls it made. */
  during<T>(fn: () => Promise<T>): Promise<{ result: T; calls: string[] }>;
}

export function rpcCounter(): RpcCounter {
  const calls: string[] = [];
  return {
    calls,
    interceptor: (next) => (req) => {
      calls.push(`${req.service.typeName}/${req.method.name}`);
      return next(req);
    },
    async during(fn) {
      const from = calls.length;
      const result = await fn();
      return { result, calls: calls.slice(from) };
    },
  };
}

/** A gateway built in-process against the platform, listening on a free loopback port. */
export interface RunningGateway {
  url: string;
  gateway: Gateway;
  deps: ConnectedDeps;
  config: GatewayConfig;
  logs: ReturnType<typeof captureLogs>;
  /** POSTs an operation; `token` becomes `Authorization: Bearer …`. */
  gql(
    query: string,
    variables?: Record<string, unknown>,
    token?: string,
    headers?: Record<string, string>,
  ): Promise<GqlResponse>;
  stop(): Promise<void>;
}

/** Builds and starts the gateway in this process (dev mode and limits from `env`). */
export async function startGateway(
  platform: TestPlatform,
  env: Record<string, string> = {},
  interceptors: Interceptor[] = [],
): Promise<RunningGateway> {
  const config = parseConfig("graphql", configSchema, { ...platform.gatewayEnv("edge"), PORT: "0", ...env });
  const logs = captureLogs("graphql-gateway");
  const logger = createLogger({ service: "graphql", level: "info", destination: logs.stream });
  const deps = await connectDeps(config, { logger, interceptors });
  const gateway = build(deps);
  await new Promise<void>((resolve) => gateway.server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const url = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/graphql`;
  return {
    url,
    gateway,
    deps,
    config,
    logs,
    gql: (query, variables, token, headers) => postGql(url, query, variables, token, headers),
    async stop() {
      await gateway.shutdown();
      await deps.close();
    },
  };
}

/** A second gateway over the same deps with other settings (say, dev mode), on its own port. */
export async function startExtraGateway(base: RunningGateway, env: Partial<GatewayConfig>): Promise<RunningGateway> {
  const config = { ...base.config, ...env };
  const gateway = build({ ...base.deps, config });
  await new Promise<void>((resolve) => gateway.server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  const url = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/graphql`;
  return {
    ...base,
    url,
    gateway,
    config,
    gql: (query, variables, token, headers) => postGql(url, query, variables, token, headers),
    async stop() {
      await gateway.shutdown();
    },
  };
}

export async function postGql(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  headers: Record<string, string> = {},
): Promise<GqlResponse> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as GqlResponse["body"] };
}

/** The `extensions.code` of every error of a response. */
export const codes = (res: GqlResponse) => (res.body.errors ?? []).map((e) => e.extensions?.code);

/** Reads `data.<path>` of a response, failing loudly when the response has errors. */
export function dataOf<T = Record<string, unknown>>(res: GqlResponse): T {
  if (res.body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(res.body.errors)}`);
  return res.body.data as T;
}

/** An SSE subscription: events as they arrive, until closed. */
export interface SseStream {
  events: Array<Record<string, unknown>>;
  /** Resolves when `predicate` holds for the events received so far (rejects after timeoutMs). */
  until(predicate: (events: Array<Record<string, unknown>>) => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
  /** The first response, for subscriptions refused up front (not a stream). */
  status: number;
}

/** Opens a subscription over yoga's SSE transport (`Accept: text/event-stream`). */
export async function subscribe(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: abort.signal,
  });
  const events: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];
  const reader = res.body?.getReader();
  const pump = async () => {
    if (!reader) return;
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({ done: true, value: undefined }));
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let split = buffer.indexOf("\n\n");
      while (split >= 0) {
        const chunk = buffer.slice(0, split);
        buffer = buffer.slice(split + 2);
        const data = chunk
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).trim())
          .join("");
        if (data) events.push(JSON.parse(data) as Record<string, unknown>);
        for (const w of waiters.splice(0)) w();
        split = buffer.indexOf("\n\n");
      }
    }
    for (const w of waiters.splice(0)) w();
  };
  void pump();
  return {
    events,
    status: res.status,
    async until(predicate, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!predicate(events)) {
        if (Date.now() > deadline) throw new Error(`subscription did not get there; events: ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    close: () => abort.abort(),
  };
}
