import { randomBytes } from "node:crypto";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import pg from "pg";
import { expect } from "vitest";
import type { DirectoryTenant, TenantDirectory } from "../src/domain/sso/directory.ts";
import { Browser, throughIdp } from "./sso-idp.ts";
import { type Identity, type SeededTenant, startIdentity } from "./support.ts";

export { Browser, throughIdp };

/** Frontend page SSO ends on in tests. */
export const FRONTEND = "http://frontend.test/sso/complete";

/**
 * tenancy's directory as identity sees it: verified email domains → tenants. (tenancy's own
 * ResolveTenant is tested in tenancy; here the domains are what each test registers.)
 */
export function testDirectory() {
  const domains = new Map<string, DirectoryTenant>();
  const slugs = new Map<string, DirectoryTenant>();
  const directory: TenantDirectory = {
    async byEmailDomain(email) {
      return domains.get((email.split("@").pop() ?? "").toLowerCase());
    },
    async bySlug(slug) {
      return slugs.get(slug);
    },
  };
  return {
    directory,
    add(tenantId: string, domain: string, slug = `t-${randomBytes(4).toString("hex")}`) {
      const t = { id: tenantId, slug, active: true };
      domains.set(domain, t);
      slugs.set(slug, t);
      return t;
    },
  };
}

/** identity with a test directory, its SSO public URL set to its own HTTP port. */
export async function startSsoIdentity(name: string) {
  const dir = testDirectory();
  const id = await startIdentity(name, { IDENTITY_SSO_FRONTEND_URL: FRONTEND }, { tenantDirectory: dir.directory });
  const base = id.built.jwksUrl().replace("/.well-known/jwks.json", "");
  // the listener's port is known only now; the handler reads the settings object per request
  id.built.deps.settings.sso.publicUrl = base;
  return { id, dir, base, callback: `${base}/sso/callback` };
}

/** Calls identity's callback and returns where it sent the browser (code or error). */
export async function atCallback(browser: Browser, callbackUrl: string) {
  const { status, location } = await browser.get(callbackUrl);
  expect(status).toBe(303);
  const target = new URL(location);
  expect(`${target.origin}${target.pathname}`).toBe(FRONTEND);
  return {
    code: target.searchParams.get("code"),
    error: target.searchParams.get("error"),
    description: target.searchParams.get("error_description"),
  };
}

/** Sets the tenant's connection as its owner. */
export async function connect(
  id: Identity,
  tenant: SeededTenant,
  idp: { issuer: string; clients: { main: { clientId: string; clientSecret: string } } },
  extra: Record<string, unknown> = {},
) {
  const sso = id.client(SsoService, tenant.owner.token);
  return sso.setSsoConnection({
    issuer: idp.issuer,
    clientId: idp.clients.main.clientId,
    clientSecret: idp.clients.main.clientSecret,
    scopes: ["openid", "email", "profile", "groups"],
    enabled: true,
    defaultRole: Role.VIEWER,
    ...extra,
  });
}

/** A new tenant whose verified domain is a fresh one. */
export async function ssoTenant(id: Identity, dir: ReturnType<typeof testDirectory>) {
  const tenant = await id.seedTenant();
  const domain = `d${randomBytes(4).toString("hex")}.example`;
  dir.add(tenant.tenantId, domain);
  return { tenant, domain };
}

/**
 * Runs one SQL statement as identity's database owner (to look beneath the contracts); tenant
 * tables (RLS forced, for the owner too) show the rows of `tenantId` when given.
 */
export async function ownerSql<T = Record<string, unknown>>(
  id: Identity,
  sql: string,
  params: unknown[] = [],
  tenantId?: string,
) {
  const client = new pg.Client({ connectionString: id.db.ownerUrl });
  await client.connect();
  try {
    if (tenantId) await client.query("select set_config('app.tenant_id', $1, false)", [tenantId]);
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}
