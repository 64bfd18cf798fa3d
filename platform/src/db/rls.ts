import { quoteIdentifier, quoteTableName } from "./identifiers.ts";

/** The transaction-local setting that carries the current tenant id to the RLS policies. */
export const TENANT_SETTING = "app.tenant_id";

/** Name of the standard tenant-isolation policy on every tenant table. */
export const TENANT_POLICY = "tenant_isolation";

/**
 * The SQL expression (for `USING` and `WITH CHECK`) that limits rows to the current tenant.
 * `current_setting(..., true)` yields NULL when the setting was never set and `''` after a
 * transaction that set it locally has ended on a pooled connection; both compare as NULL, so a
 * connection without a tenant sees no rows and can write none.
 */
export function tenantPolicyExpression(column = "tenant_id"): string {
  return `${quoteIdentifier(column, "tenant column")} = nullif(current_setting('${TENANT_SETTING}', true), '')::uuid`;
}

/** Options of enableTenantRls / disableTenantRls. */
export interface TenantRlsOptions {
  /** Column holding the tenant id (uuid). Default `tenant_id`. */
  column?: string;
  /** Policy name. Default `tenant_isolation`. */
  policyName?: string;
}

/**
 * SQL statements that turn on row-level security for a tenant table: `ENABLE` and `FORCE` (so the
 * owner running migrations is bound too) and the standard policy for all commands, with the same
 * `USING` and `WITH CHECK` expression. For migration classes: `for (const s of enableTenantRls("notes")) this.addSql(s)`.
 */
export function enableTenantRls(table: string, options: TenantRlsOptions = {}): string[] {
  const t = quoteTableName(table);
  const policy = quoteIdentifier(options.policyName ?? TENANT_POLICY, "policy name");
  const expr = tenantPolicyExpression(options.column ?? "tenant_id");
  return [
    `alter table ${t} enable row level security;`,
    `alter table ${t} force row level security;`,
    `create policy ${policy} on ${t} as permissive for all to public using (${expr}) with check (${expr});`,
  ];
}

/** The reverse of enableTenantRls, for a migration's `down()`. */
export function disableTenantRls(table: string, options: TenantRlsOptions = {}): string[] {
  const t = quoteTableName(table);
  const policy = quoteIdentifier(options.policyName ?? TENANT_POLICY, "policy name");
  return [
    `drop policy if exists ${policy} on ${t};`,
    `alter table ${t} no force row level security;`,
    `alter table ${t} disable row level security;`,
  ];
}
