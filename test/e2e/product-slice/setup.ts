/**
 * The product slice as `./tessera up` runs it: identity, tenancy and projects, and both gateways
 * (GraphQL and REST) as real processes on 127.0.0.1, plus two tenants (A and B), each with an
 * owner, an admin, a member, a viewer and API keys, seeded through the tenancy / identity contracts
 * (there is no public sign-up surface). Any tenant can be placed in the bridge tier (its own
 * database) or the silo tier (its own database and its own projects process, tenancy's `local`
 * compute driver; the gateways route its calls there) before any of its data exists, moved there
 * through MoveTenant as an operator would. A third tenant (C) is added on request.
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

/** The tiers a slice tenant can be placed in. */
export type SliceTier = "pool" | "bridge" | "silo";

export interface SliceTenant {
  id: string;
  /** Where it lives: the shared pool database, a database of its own (bridge), or also its own compute (silo). */
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
  /** The third tenant, when `tiers.c` was given. */
  c: SliceTenant | undefined;
  /** tenancy as the platform operator (tiers, placements). */
  tenancy: Client<typeof TenantService>;
  /** POSTs a GraphQL operation with `Authorization: Bearer <token>`. */
  gql(token: string, query: string, variables?: Record<string, unknown>): Promise<HttpAnswer>;
  /** A REST call with `X-Api-Key`. */
  rest_(key: string, method: string, path: string, body?: unknown): Promise<HttpAnswer>;
  /**
   * projects' gRPC clients acting with an internal token: the platform's projects, or with `tenant`
   * the instance that serves that tenant (a silo tenant's own, as a service team inside the
   * tenant's namespace would call it).
   */
  rpc(
    token: string,
    tenant?: SliceTenant,
  ): { projects: Client<typeof ProjectService>; tasks: Client<typeof TaskService> };
  stop(): Promise<void>;
}

/** Options of {@link startSlice}. */
export interface SliceOptions {
  /**
   * Each tenant's tier (default pool): a bridge or silo tenant is created in pool and moved before
   * it has data. A tier for `c` adds a third tenant.
   */
  tiers?: { a?: SliceTier; b?: SliceTier; c?: SliceTier };
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
  const tiers = { a: options.tiers?.a ?? "pool", b: options.tiers?.b ?? "pool", c: options.tiers?.c } as const;
  const platform = await startPlatform({
    // audit too: the GraphQL gateway reads the tenant's audit log (AUDIT_URL is required)
    services: ["tenancy", "projects", "audit"],
    localCompute: Object.values(tiers).includes("silo"),
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
    const TIERS = { bridge: Tier.BRIDGE, silo: Tier.SILO } as const;
    /** Seeds the tenant; its move (if any) runs while the next one is seeded. */
    const place = async (tier: SliceTier) => {
      const t = await tenant(platform, tier);
      const moving = tier === "pool" ? undefined : moveTenantTo(operator.client, t.id, TIERS[tier]);
      moving?.catch(() => undefined);
      return { t, moving };
    };
    const placed = [await place(tiers.a), await place(tiers.b), ...(tiers.c ? [await place(tiers.c)] : [])];
    const endpoints = new Map<string, string>();
    for (const { t, moving } of placed) {
      const moved = await moving;
      const endpoint = moved?.placement?.endpoints.projects;
      if (t.tier === "silo" && !endpoint) throw new Error(`silo tenant ${t.id} has no projects endpoint`);
      if (endpoint) endpoints.set(t.id, endpoint);
    }
    const [a, b, c] = placed.map((p) => p.t) as [SliceTenant, SliceTenant, SliceTenant | undefined];
    const clientsAt = new Map<string, ReturnType<typeof clientsOf>>();
    const clientsOf = (baseUrl: string) => {
      const transport = createGrpcTransport({ baseUrl });
      return { projects: createClient(ProjectService, transport), tasks: createClient(TaskService, transport) };
    };
    const at = (baseUrl: string) => {
      let clients = clientsAt.get(baseUrl);
      if (!clients) {
        clients = clientsOf(baseUrl);
        clientsAt.set(baseUrl, clients);
      }
      return clients;
    };
    const projectsUrl = platform.services.projects?.url as string;
    return {
      platform,
      graphql,
      rest,
      a,
      b,
      c,
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
      rpc(token, tenant) {
        const { projects, tasks } = at((tenant && endpoints.get(tenant.id)) ?? projectsUrl);
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
