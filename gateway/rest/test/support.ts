import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { createLogger } from "@tessera/platform/log";
import { closeServiceClient, createServiceClient } from "@tessera/platform/rpc-client";
import { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import {
  type CapturedLogs,
  captureLogs,
  type PlatformService,
  startPlatform,
  type TenantSeed,
  type TestPlatform,
} from "@tessera/test/harness";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { parseRestConfig, SERVICE } from "../src/config.ts";
import { build } from "../src/server.ts";
import { type Wired, wire } from "../src/wiring.ts";

/** Every permission of projects: the scopes of an all-powerful key. */
export const ALL_SCOPES = [
  "projects.read",
  "tasks.read",
  "comments.read",
  "projects.write",
  "tasks.write",
  "comments.write",
  "projects.archive",
];
/** The read-only bundle. */
export const READ_SCOPES = ["projects.read", "tasks.read", "comments.read"];

/** The client id of the edge's credential in tests: `edge` (exchange) + `service` (tenant plans). */
export const EDGE_CLIENT = "rest";

/** The REST edge in this process, on the real platform (identity, tenancy, projects as processes). */
export interface TestEdge {
  platform: TestPlatform;
  app: FastifyInstance;
  wired: Wired;
  logs: CapturedLogs;
  /** The environment a real edge process gets. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the platform and builds the edge (not listening: tests use `inject`); logs go to `<logName>-<pid>.ndjson`. */
export async function startEdge(
  logName: string,
  extraEnv: Record<string, string> = {},
  services: PlatformService[] = ["tenancy", "projects"],
): Promise<TestEdge> {
  const platform = await startPlatform({
    services,
    clients: [{ id: EDGE_CLIENT, roles: ["edge", "service"] }],
  });
  try {
    const env = {
      ...platform.gatewayEnv(EDGE_CLIENT),
      IDEMPOTENCY_BUCKET: `rest_idem_${randomUUID().slice(0, 8)}`,
      ...extraEnv,
    };
    const logs = captureLogs(logName);
    const logger = createLogger({ service: SERVICE, destination: logs.stream });
    const wired = await wire(parseRestConfig(env), logger);
    const app = await build(wired.deps);
    await app.ready();
    return {
      platform,
      app,
      wired,
      logs,
      env,
      async close() {
        await app.close();
        await (await new Kvm(wired.nats).open(env.IDEMPOTENCY_BUCKET)).destroy().catch(() => undefined);
        await wired.close();
        await platform.stop();
      },
    };
  } catch (err) {
    await platform.stop();
    throw err;
  }
}

/** A user's access token (sent as Bearer) or an API key (sent as X-Api-Key). */
export type Credential = { token: string } | { key: string };

/** A request as `injectAs` takes it after the app. */
export type RequestAs = [
  credential: Credential,
  method: "GET" | "POST" | "PATCH" | "PUT" | "DELETE",
  url: string,
  body?: unknown,
  headers?: Record<string, string>,
];

/** One request through the whole edge as `credential`. */
export function injectAs(
  app: FastifyInstance,
  ...[credential, method, url, body, headers = {}]: RequestAs
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: {
      ...("token" in credential ? { authorization: `Bearer ${credential.token}` } : { "x-api-key": credential.key }),
      ...headers,
    },
    ...(body !== undefined && { payload: body as Record<string, unknown> }),
  });
}

/** One request to the edge with an API key. */
export interface Call {
  key?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Sends a request through the whole edge (hooks, auth by exchange, projects over gRPC). */
export function call(
  app: FastifyInstance,
  method: "GET" | "POST" | "PATCH" | "DELETE" | "PUT",
  url: string,
  { key, body, headers = {} }: Call = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method,
    url,
    headers: { ...(key !== undefined && { "x-api-key": key }), ...headers },
    ...(body !== undefined && { payload: body as Record<string, unknown> }),
  });
}

/** The problem+json body of a response, after checking its media type. */
export function problemOf(res: LightMyRequestResponse): {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: Array<{ field: string; message: string }>;
} {
  if (!String(res.headers["content-type"]).startsWith("application/problem+json")) {
    throw new Error(`expected problem+json, got ${String(res.headers["content-type"])}: ${res.body}`);
  }
  const body = res.json();
  if (body.status !== res.statusCode) throw new Error(`problem status ${body.status} on a ${res.statusCode}`);
  return body;
}

/** A random project key (unique enough per test). */
export function projectKey(): string {
  return `P${randomUUID().replace(/-/g, "").slice(0, 8).toUpperCase()}`;
}

/** Revokes an API key at identity, as the tenant's owner would. */
export async function revokeApiKey(edge: TestEdge, tenant: TenantSeed, apiKeyId: string): Promise<void> {
  const owner = await tenant.user("owner");
  const keys = createServiceClient(ApiKeyService, { baseUrl: edge.platform.identity.url, defaultTimeoutMs: 10_000 });
  try {
    await keys.revokeApiKey(
      { apiKeyId },
      { headers: { authorization: `Bearer ${await owner.internalToken("identity")}` } },
    );
  } finally {
    closeServiceClient(keys);
  }
}
