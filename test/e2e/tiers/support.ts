import { randomUUID } from "node:crypto";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createServiceTokenSource } from "@tessera/platform/auth";
import { ProjectService, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import {
  type GetProvisioningResponse,
  OperationState,
  type Tenant,
  TenantService,
  TenantStatus,
  Tier,
} from "@tessera/proto/tessera/tenancy/v1/tenancy_pb";
import pg from "pg";
import { inject } from "vitest";
import type { TestPlatform } from "../../harness/index.ts";

/** tenancy as the platform operator. */
export function operatorTenancy(platform: TestPlatform): { client: Client<typeof TenantService>; close(): void } {
  const operator = platform.clients.operator;
  if (!operator || !platform.services.tenancy) throw new Error("the platform needs tenancy and the operator");
  const tokens = createServiceTokenSource({
    identityUrl: platform.identity.url,
    clientId: operator.id,
    clientSecret: operator.secret,
  });
  const client = createClient(
    TenantService,
    createGrpcTransport({
      baseUrl: platform.services.tenancy.url,
      interceptors: [
        (next) => async (req) => {
          req.header.set("authorization", `Bearer ${await tokens.getToken("tenancy")}`);
          return next(req);
        },
      ],
    }),
  );
  return { client, close: () => tokens.close() };
}

/** projects as one caller (an internal token for `projects`). */
export function projectsAs(platform: TestPlatform, token: string) {
  const transport = createGrpcTransport({
    baseUrl: platform.services.projects?.url as string,
    interceptors: [
      (next) => async (req) => {
        req.header.set("authorization", `Bearer ${token}`);
        return next(req);
      },
    ],
  });
  return { projects: createClient(ProjectService, transport), tasks: createClient(TaskService, transport) };
}

/** Follows GetProvisioning until the tenant's latest operation is no longer running. */
export async function awaitOperation(
  tenancy: Client<typeof TenantService>,
  tenantId: string,
  timeoutMs: number,
): Promise<GetProvisioningResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await tenancy.getProvisioning({ tenantId }, { timeoutMs: 10_000 });
    if (res.operation && res.operation.state !== OperationState.RUNNING) return res;
    if (Date.now() > deadline)
      throw new Error(
        `operation still running after ${timeoutMs} ms: ${JSON.stringify(res.operation?.phase)} ${res.operation?.lastError}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A superuser query on one database of the run's PostgreSQL. */
export async function adminQuery<T extends pg.QueryResultRow>(
  database: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const url = new URL(inject("pgAdminUrl"));
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Every database of the run's server whose name starts with `prefix`. */
export async function databasesLike(prefix: string): Promise<string[]> {
  const rows = await adminQuery<{ datname: string }>(
    "postgres",
    "select datname from pg_database where datname like $1",
    [`${prefix}%`],
  );
  return rows.map((r) => r.datname);
}

/**
 * Rows carrying the tenant id in any table of the given databases: every table with a uuid
 * `tenant_id` (or, for registry tables, `id`) column is scanned. Returns "<database>.<table>: n".
 */
export async function rowsOfTenant(databases: readonly string[], tenantId: string): Promise<string[]> {
  const found: string[] = [];
  for (const database of databases) {
    const columns = await adminQuery<{ table_name: string; column_name: string }>(
      database,
      `select table_name, column_name from information_schema.columns
       where table_schema = 'public' and data_type = 'uuid' and column_name in ('tenant_id', 'id')`,
    );
    for (const c of columns) {
      const [row] = await adminQuery<{ n: string }>(
        database,
        `select count(*)::text as n from "${c.table_name}" where "${c.column_name}" = $1`,
        [tenantId],
      );
      if (Number(row?.n ?? 0) > 0) found.push(`${database}.${c.table_name}: ${row?.n}`);
    }
  }
  return found;
}

/** The name of a generated enum's value, for messages. */
const nameOf = (values: Record<string, unknown>, value: number | undefined): string =>
  Object.keys(values).find((k) => values[k] === value) ?? String(value);

/** Follows GetTenant until provisioning made the tenant ACTIVE (only an active tenant can move). */
export async function awaitActive(
  tenancy: Client<typeof TenantService>,
  tenantId: string,
  timeoutMs: number,
): Promise<Tenant> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { tenant } = await tenancy.getTenant({ tenantId }, { timeoutMs: 10_000 });
    if (tenant?.status === TenantStatus.ACTIVE) return tenant;
    if (Date.now() > deadline)
      throw new Error(`tenant ${tenantId} still ${nameOf(TenantStatus, tenant?.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Moves a tenant to another tier through MoveTenant, as an operator does, once it is active, and
 * waits until the move SUCCEEDED (throws when it rolled back or ran out of time). Returns the
 * tenant as tenancy then describes it (tier and placement).
 */
export async function moveTenantTo(
  tenancy: Client<typeof TenantService>,
  tenantId: string,
  targetTier: Tier,
  timeoutMs = 120_000,
): Promise<Tenant> {
  await awaitActive(tenancy, tenantId, timeoutMs);
  await tenancy.moveTenant({ tenantId, requestId: randomUUID(), targetTier }, { timeoutMs: 10_000 });
  const done = await awaitOperation(tenancy, tenantId, timeoutMs);
  if (done.operation?.state !== OperationState.SUCCEEDED)
    throw new Error(
      `the move of ${tenantId} to ${nameOf(Tier, targetTier)} ended ${nameOf(OperationState, done.operation?.state)}: ${done.operation?.lastError}`,
    );
  const { tenant } = await tenancy.getTenant({ tenantId }, { timeoutMs: 10_000 });
  if (tenant?.tier !== targetTier)
    throw new Error(`the move of ${tenantId} succeeded but tenancy says tier ${nameOf(Tier, tenant?.tier)}`);
  return tenant;
}
