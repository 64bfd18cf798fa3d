import type { InMemorySpanExporter } from "@opentelemetry/sdk-trace";
import type { TenantSeed, TestPlatform, UserSeed } from "@tessera/test/harness";
import { dataOf, type RpcCounter, type RunningGateway } from "../support.ts";

/** A seeded tenant with one user per role, each signed in through the gateway's login mutation. */
export interface SeededTenant {
  tenant: TenantSeed;
  users: Record<"owner" | "member" | "viewer", UserSeed>;
  /** Access tokens from the gateway's login mutation. */
  tokens: Record<"owner" | "member" | "viewer", string>;
}

/** What every scenario gets. */
export interface Env {
  platform: TestPlatform;
  /** The gateway with production settings (no GraphiQL, no introspection). */
  gw: RunningGateway;
  /** The same deps with GRAPHQL_DEV_MODE=true. */
  dev: RunningGateway;
  /** Counts every call the gateways' service clients make. */
  counter: RpcCounter;
  spans: InMemorySpanExporter;
  /** The test process's /metrics (the gateway in-process reports there). */
  metricsUrl: string;
  a: SeededTenant;
  b: SeededTenant;
}

export const LOGIN = `mutation Login($input: LoginInput!) {
  login(input: $input) {
    __typename
    ... on LoginSuccess { tokens { accessToken refreshToken userId tenantId } }
    ... on Error { code message }
  }
}`;

/** Signs a user in through the gateway; answers the access token. */
export async function login(gw: RunningGateway, user: UserSeed): Promise<string> {
  const res = await gw.gql(LOGIN, { input: loginInput(user) });
  const result = dataOf<{ login: { tokens?: { accessToken: string } } }>(res).login;
  if (!result.tokens) throw new Error(`login failed: ${JSON.stringify(result)}`);
  return result.tokens.accessToken;
}

/** Login input naming the tenant by id (identity learns slugs from tenancy's events, a moment later). */
export const loginInput = (user: UserSeed, password = user.password) => ({
  email: user.email,
  password,
  tenantId: gid("Tenant", user.tenantId),
});

export async function seedTenant(platform: TestPlatform, gw: RunningGateway): Promise<SeededTenant> {
  const tenant = await platform.seed.tenant();
  const users = {
    owner: await tenant.user("owner"),
    member: await tenant.user("member"),
    viewer: await tenant.user("viewer"),
  };
  const tokens = {
    owner: await login(gw, users.owner),
    member: await login(gw, users.member),
    viewer: await login(gw, users.viewer),
  };
  return { tenant, users, tokens };
}

/** `base64("<Type>:<uuid>")`. */
export const gid = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString("base64");

const PROJECT = `mutation P($input: CreateProjectInput!) {
  createProject(input: $input) { __typename ... on CreateProjectSuccess { project { id key } } ... on Error { code message } }
}`;
const TASK = `mutation T($input: CreateTaskInput!) {
  createTask(input: $input) { __typename ... on CreateTaskSuccess { task { id title } } ... on Error { code message } }
}`;

let keys = 0;

/** Creates a project through the gateway; answers its global id. */
export async function createProject(gw: RunningGateway, token: string, name = "Project"): Promise<string> {
  keys++;
  const key = `P${process.pid % 1000}X${keys}`.slice(0, 10);
  const res = dataOf<{ createProject: { project?: { id: string } } }>(
    await gw.gql(PROJECT, { input: { name, key } }, token),
  );
  if (!res.createProject.project) throw new Error(`createProject failed: ${JSON.stringify(res)}`);
  return res.createProject.project.id;
}

/** Creates a task through the gateway; answers its global id. */
export async function createTask(
  gw: RunningGateway,
  token: string,
  input: Record<string, unknown> & { projectId: string },
): Promise<string> {
  const res = dataOf<{ createTask: { task?: { id: string } } }>(
    await gw.gql(TASK, { input: { title: "Task", ...input } }, token),
  );
  if (!res.createTask.task) throw new Error(`createTask failed: ${JSON.stringify(res)}`);
  return res.createTask.task.id;
}
