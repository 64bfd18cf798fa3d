import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { type Client, type ConnectRouter, createClient, type Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { currentContext, runWithContext } from "@tessera/platform/context";
import { telemetryClientInterceptor } from "@tessera/platform/telemetry";
import { EchoService } from "@tessera/proto/tessera/testing/v1/echo_pb";

/** Header carrying the tenant between the test services (stands in for the signed internal token). */
const TENANT_HEADER = "x-test-tenant";

/** A real connect-node HTTP/2 server on 127.0.0.1. */
export interface TestServer {
  readonly baseUrl: string;
  stop(): Promise<void>;
}

/** Starts an HTTP/2 (prior knowledge) server with the given routes and interceptors on a free loopback port. */
export async function startServer(
  routes: (router: ConnectRouter) => void,
  interceptors: Interceptor[],
): Promise<TestServer> {
  const server = http2.createServer(connectNodeAdapter({ routes, interceptors }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      await closed;
    },
  };
}

/** Server side of the tenant hand-over: runs the call as the tenant the caller named (what the auth interceptor will do). */
export function tenantFromHeader(): Interceptor {
  return (next) => (req) => {
    const tenantId = req.header.get(TENANT_HEADER) ?? undefined;
    return runWithContext({ tenantId }, () => next(req));
  };
}

/** Client side of the tenant hand-over: forwards the current context's tenant. */
function tenantToHeader(): Interceptor {
  return (next) => (req) => {
    const tenantId = currentContext()?.tenantId;
    if (tenantId) req.header.set(TENANT_HEADER, tenantId);
    return next(req);
  };
}

/** An EchoService client over a real gRPC (HTTP/2) transport, with the telemetry interceptor outermost. */
export function echoClient(baseUrl: string): Client<typeof EchoService> {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [telemetryClientInterceptor(), tenantToHeader()],
    defaultTimeoutMs: 5_000,
    idleConnectionTimeoutMs: 1_000,
  });
  return createClient(EchoService, transport);
}

/** One Prometheus sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses Prometheus text exposition format (enough of it for assertions). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ""] = l[2] ?? "";
    samples.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include all of `match`. */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

/** GETs the metrics endpoint (HTTP/1.1, bounded in time). */
export async function scrape(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}
