/**
 * The product slice as `./tessera up` runs it: identity, tenancy and projects, and both gateways
 * (GraphQL and REST) as real processes on 127.0.0.1, plus two tenants (A and B), each with an
 * owner, an admin, a member, a viewer and API keys, seeded through the tenancy / identity contracts
 * (there is no public sign-up surface). Either tenant can be placed in the bridge tier (its own
 * database) before any of its data exists, moved there through MoveTenant as an operator would.
 */
import { randomUUID } from "node:crypto";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { type TenantService, Tier } from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import {
  type ApiKeySeed,
  type RunningService,
  startMain,
  startPlatform,
  stopMain,
  type TestPlatform,
  type UserSeed,
} from "@tessera/test/harness";
import { moveTenantTo, operatorTenancy } from "../tiers/support.ts";

const gatewayDir = new URL("../../../gateway/", import.meta.url).pathname;

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
/** What a member can use: read and write, no archive. */
export const READ_WRITE_SCOPES = [
  "projects.read",
  "tasks.read",
  "comments.read",
  "projects.write",
  "tasks.write",
  "comments.write",
];

/** The tiers a slice tenant can be placed in (silo needs the compute driver). */
export type SliceTier = "pool" | "bridge";

export interface SliceTenant {
  id: string;
  /** Where its data lives: the shared pool database, or (bridge) a database of its own. */
  tier: SliceTier;
  owner: UserSeed;
  admin: UserSeed;
  member: UserSeed;
  viewer: UserSeed;
  keys: {
    /** viewer role, read scopes. */
    viewer: ApiKeySeed;
    /** member role, read + write scopes. */
    member: ApiKeySeed;
    /** member role, read scopes only (the write scope is missing). */
    memberReadOnly: ApiKeySeed;
    /** admin role, every scope. */
    admin: ApiKeySeed;
  };
}

/** One HTTP answer: status, media type and the raw body text. */
export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
}

export interface Slice {
  platform: TestPlatform;
  graphql: RunningService;
  rest: RunningService;
  a: SliceTenant;
  b: SliceTenant;
  /** tenancy as the platform operator (tiers, placements). */
  tenancy: Client<typeof TenantService>;
  /** POSTs a GraphQL operation with `Authorization: Bearer <token>`. */
  gql(token: string, query: string, variables?: Record<string, unknown>): Promise<HttpAnswer>;
  /** A REST call with `X-Api-Key`. */
  rest_(key: string, method: string, path: string, body?: unknown): Promise<HttpAnswer>;
  /** projects' gRPC clients acting with an internal token. */
  rpc(token: string): { projects: Client<typeof ProjectService>; tasks: Client<typeof TaskService> };
  stop(): Promise<void>;
}

/** Options of {@link startSlice}. */
export interface SliceOptions {
  /** Each tenant's tier (default pool): a bridge tenant is created in pool and moved before it has data. */
  tiers?: { a?: SliceTier; b?: SliceTier };
}

async function tenant(platform: TestPlatform, tier: SliceTier): Promise<SliceTenant> {
  // enterprise: the matrix sends thousands of requests a minute, above smaller plans' rate limits
  const t = await platform.seed.tenant({ plan: "enterprise" });
  const [owner, admin, member, viewer] = [
    await t.user("owner"),
    await t.user("admin"),
    await t.user("member"),
    await t.user("viewer"),
  ];
  const keys = {
    viewer: await t.apiKey("viewer", READ_SCOPES),
    member: await t.apiKey("member", READ_WRITE_SCOPES),
    memberReadOnly: await t.apiKey("member", READ_SCOPES),
    admin: await t.apiKey("admin", ALL_SCOPES),
  };
  return { id: t.id, tier, owner, admin, member, viewer, keys };
}

async function answer(res: Response): Promise<HttpAnswer> {
  return { status: res.status, contentType: res.headers.get("content-type") ?? "", text: await res.text() };
}

export async function startSlice(options: SliceOptions = {}): Promise<Slice> {
  const platform = await startPlatform({
    // audit too: the GraphQL gateway reads the tenant's audit log (AUDIT_URL is required)
    services: ["tenancy", "projects", "audit"],
    clients: [
      { id: "graphql-gw", roles: ["edge", "service"] },
      { id: "rest-gw", roles: ["edge", "service"] },
    ],
  });
  const running: RunningService[] = [];
  const operator = operatorTenancy(platform);
  const stop = async () => {
    for (const r of running.reverse()) await stopMain(r).catch(() => undefined);
    operator.close();
    await platform.stop();
  };
  try {
    const graphql = await startMain(
      `${gatewayDir}graphql/src/main.ts`,
      { ...platform.gatewayEnv("graphql-gw"), PORT: "0", METRICS_PORT: "0" },
      { logName: "slice-graphql" },
    );
    running.push(graphql);
    const rest = await startMain(
      `${gatewayDir}rest/src/main.ts`,
      {
        ...platform.gatewayEnv("rest-gw"),
        PORT: "0",
        METRICS_PORT: "0",
        IDEMPOTENCY_BUCKET: `slice_idem_${randomUUID().slice(0, 8)}`,
      },
      { logName: "slice-rest" },
    );
    running.push(rest);
    const tiers = { a: options.tiers?.a ?? "pool", b: options.tiers?.b ?? "pool" } as const;
    const a = await tenant(platform, tiers.a);
    // A's move runs while B is seeded
    const movingA = tiers.a === "bridge" ? moveTenantTo(operator.client, a.id, Tier.BRIDGE) : undefined;
    movingA?.catch(() => undefined);
    const b = await tenant(platform, tiers.b);
    if (tiers.b === "bridge") await moveTenantTo(operator.client, b.id, Tier.BRIDGE);
    await movingA;
    const projectsUrl = platform.services.projects?.url as string;
    const transport = createGrpcTransport({ baseUrl: projectsUrl });
    const projects = createClient(ProjectService, transport);
    const tasks = createClient(TaskService, transport);
    return {
      platform,
      graphql,
      rest,
      a,
      b,
      tenancy: operator.client,
      async gql(token, query, variables = {}) {
        const res = await fetch(`${graphql.url}/graphql`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: "application/graphql-response+json, application/json",
            authorization: `Bearer ${token}`,
          },
          body: JSON.stringify({ query, variables }),
          signal: AbortSignal.timeout(20_000),
        });
        return answer(res);
      },
      async rest_(key, method, path, body) {
        const res = await fetch(`${rest.url}${path}`, {
          method,
          headers: {
            "x-api-key": key,
            ...(body !== undefined && { "content-type": "application/json" }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(20_000),
        });
        return answer(res);
      },
      rpc(token) {
        const headers = { authorization: `Bearer ${token}` };
        const wrap = <T extends object>(client: T): T =>
          new Proxy(client, {
            get(target, prop) {
              const fn = Reflect.get(target, prop) as unknown;
              if (typeof fn !== "function") return fn;
              return (req: unknown, opts: Record<string, unknown> = {}) =>
                (fn as (r: unknown, o: unknown) => unknown).call(target, req, {
                  timeoutMs: 10_000,
                  ...opts,
                  headers,
                });
            },
          });
        return { projects: wrap(projects), tasks: wrap(tasks) };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A parsed JSON answer of a gateway, read loosely by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: answers are arbitrary JSON, checked by the assertions
export type Json = any;

/** Relay global id: base64("<Type>:<uuid>"). */
export const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");
/** The uuid inside a Relay global id. */
export const localId = (gid: string) => Buffer.from(gid, "base64").toString("utf8").split(":")[1] as string;
/** A random project key. */
export const projectKey = () => `P${randomUUID().replace(/-/g, "").slice(0, 8).toUpperCase()}`;
