import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, InvalidArgument, NotFound, PermissionDenied } from "@tessera/platform/errors";
import { ssoConnectionChanged } from "../../events/publish-sso.ts";
import type { IdentityDeps } from "../deps.ts";
import { requireStepUp } from "../mfa/step-up.ts";
import { caller, PLATFORM_ADMIN, permissions, TENANT_ROLES, type TenantRole } from "../roles.ts";
import { derivedKey, seal, unseal } from "../secrets.ts";
import { pgArray, query, queryOne, toDate } from "../sql.ts";
import { requireActiveTenant } from "../tenants.ts";
import {
  type DiscoveredEndpoints,
  describeIdpError,
  endpointsOf,
  idpConfiguration,
  validateDiscovery,
} from "./oidc.ts";

/** A groups-claim value that gives a role. */
export interface RoleMapping {
  value: string;
  role: TenantRole;
}

/** A tenant's OIDC connection, as stored (the secret stays sealed). */
export interface SsoConnectionRecord {
  tenantId: string;
  issuer: string;
  clientId: string;
  clientSecretLast4: string;
  scopes: string[];
  emailClaim: string;
  nameClaim: string;
  groupsClaim: string;
  roleMappings: RoleMapping[];
  defaultRole: TenantRole;
  syncRoles: boolean;
  trustIdpMfa: boolean;
  enabled: boolean;
  ssoRequired: boolean;
  breakGlassUserIds: string[];
  updatedAt: Date;
  updatedBy: string;
}

/** What SetSsoConnection asks for (shape-validated by the proto). */
export interface SsoConnectionInput {
  issuer: string;
  clientId: string;
  /** Empty: keep the stored secret. */
  clientSecret: string;
  scopes: string[];
  emailClaim: string;
  nameClaim: string;
  groupsClaim: string;
  roleMappings: RoleMapping[];
  defaultRole: TenantRole | undefined;
  syncRoles: boolean;
  trustIdpMfa: boolean;
  enabled: boolean;
  ssoRequired: boolean;
  breakGlassUserIds: string[];
}

interface Row {
  tenant_id: string;
  issuer: string;
  client_id: string;
  client_secret_sealed: Buffer;
  client_secret_last4: string;
  scopes: string[];
  email_claim: string;
  name_claim: string;
  groups_claim: string;
  role_mappings: unknown;
  default_role: TenantRole;
  sync_roles: boolean;
  trust_idp_mfa: boolean;
  enabled: boolean;
  sso_required: boolean;
  break_glass_user_ids: string[];
  updated_at: unknown;
  updated_by: string;
}

const COLUMNS = `tenant_id, issuer, client_id, client_secret_sealed, client_secret_last4, scopes, email_claim,
  name_claim, groups_claim, role_mappings, default_role, sync_roles, trust_idp_mfa, enabled, sso_required,
  break_glass_user_ids, updated_at, updated_by`;

const SECRET_PURPOSE = "sso client secrets v1";
const NO_CONNECTION = "the tenant has no SSO connection";

function mappingsOf(value: unknown): RoleMapping[] {
  const list = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (m): m is RoleMapping => typeof m?.value === "string" && TENANT_ROLES.includes((m as RoleMapping).role),
  );
}

function fromRow(r: Row): SsoConnectionRecord {
  return {
    tenantId: r.tenant_id,
    issuer: r.issuer,
    clientId: r.client_id,
    clientSecretLast4: r.client_secret_last4,
    scopes: r.scopes,
    emailClaim: r.email_claim,
    nameClaim: r.name_claim,
    groupsClaim: r.groups_claim,
    roleMappings: mappingsOf(r.role_mappings),
    defaultRole: r.default_role,
    syncRoles: r.sync_roles,
    trustIdpMfa: r.trust_idp_mfa,
    enabled: r.enabled,
    ssoRequired: r.sso_required,
    breakGlassUserIds: r.break_glass_user_ids,
    updatedAt: toDate(r.updated_at),
    updatedBy: r.updated_by,
  };
}

async function rowOf(em: TxEntityManager, tenantId: string, lock = false): Promise<Row | undefined> {
  return queryOne<Row>(em, `select ${COLUMNS} from sso_connections where tenant_id = ?${lock ? " for update" : ""}`, [
    tenantId,
  ]);
}

/** The tenant's connection, in a transaction of that tenant (RLS forced). */
export async function connectionOf(em: TxEntityManager, tenantId: string): Promise<SsoConnectionRecord | undefined> {
  const row = await rowOf(em, tenantId);
  return row && fromRow(row);
}

/** The connection with its client secret opened, for a login. */
export async function connectionWithSecret(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
): Promise<(SsoConnectionRecord & { clientSecret: string }) | undefined> {
  const row = await rowOf(em, tenantId);
  if (!row) return undefined;
  const key = derivedKey(deps.settings.keyEncryptionKey, SECRET_PURPOSE);
  const clientSecret = unseal(key, row.tenant_id, Buffer.from(row.client_secret_sealed)).toString("utf8");
  return { ...fromRow(row), clientSecret };
}

/** Which tenant an admin call is about: the caller's own, or (platform admins) the one named. */
export function ssoAdminTenant(requested: string): string {
  const { principal, tenantId } = caller();
  if (tenantId !== undefined) {
    permissions.requirePermission("identity.sso.manage");
    if (requested !== "" && requested.toLowerCase() !== tenantId.toLowerCase()) throw new NotFound("tenant not found");
    return tenantId.toLowerCase();
  }
  if (!principal.roles.includes(PLATFORM_ADMIN)) throw new PermissionDenied("this call needs a token for a tenant");
  permissions.requirePermission("identity.sso.manage");
  if (requested === "") {
    throw new InvalidArgument("tenant_id is required for platform-level callers", [
      { field: "tenant_id", message: "required when the token has no tenant" },
    ]);
  }
  return requested.toLowerCase();
}

/** GetSsoConnection: NotFound when the tenant has none. */
export async function getSsoConnection(deps: IdentityDeps, requestedTenant: string): Promise<SsoConnectionRecord> {
  const tenantId = ssoAdminTenant(requestedTenant);
  const found = await withTenantTransaction(deps.orm, (em) => connectionOf(em, tenantId), { tenantId });
  if (!found) throw new NotFound(NO_CONNECTION);
  return found;
}

async function requireBreakGlassOwners(em: TxEntityManager, tenantId: string, ids: readonly string[]) {
  if (ids.length === 0) return;
  const owners = await query<{ user_id: string }>(
    em,
    "select user_id from memberships where tenant_id = ? and role = 'owner' and user_id = any(?::uuid[])",
    [tenantId, pgArray(ids.map((id) => id.toLowerCase()))],
  );
  const found = new Set(owners.map((o) => o.user_id));
  const missing = ids.findIndex((id) => !found.has(id.toLowerCase()));
  if (missing >= 0) {
    throw new InvalidArgument("break-glass users must be owners of the tenant", [
      { field: `break_glass_user_ids[${missing}]`, message: "not an owner of this tenant" },
    ]);
  }
}

/**
 * SetSsoConnection (a sensitive operation: step-up applies, like SetMfaPolicy): validates discovery (with a deadline) before anything is stored, seals the
 * client secret (HKDF purpose `sso client secrets v1`, the tenant id as AAD), keeps the stored one
 * when none is given, and audits the change. Requiring SSO needs an enabled connection; break-glass
 * users must be owners; only owners (and platform admins) may map a group to `owner`.
 */
export async function setSsoConnection(
  deps: IdentityDeps,
  requestedTenant: string,
  input: SsoConnectionInput,
): Promise<SsoConnectionRecord> {
  const tenantId = ssoAdminTenant(requestedTenant);
  const { principal, tenantId: own } = caller();
  if (own !== undefined && !permissions.can(principal, "identity.owners.manage")) {
    const i = input.roleMappings.findIndex((m) => m.role === "owner");
    if (i >= 0) {
      throw new PermissionDenied("only owners map a group to the owner role", [
        { field: `role_mappings[${i}].role`, message: "only owners may map to owner" },
      ]);
    }
  }
  if (input.ssoRequired && !input.enabled) {
    throw new InvalidArgument("SSO can only be required while the connection is enabled", [
      { field: "sso_required", message: "needs enabled: true" },
    ]);
  }
  const scopes = [...new Set(["openid", ...(input.scopes.length > 0 ? input.scopes : ["email", "profile"])])];
  const existing = await withTenantTransaction(deps.orm, (em) => connectionWithSecret(deps, em, tenantId), {
    tenantId,
  });
  const secret = input.clientSecret !== "" ? input.clientSecret : existing?.clientSecret;
  if (secret === undefined) {
    throw new InvalidArgument("a client secret is required", [
      { field: "client_secret", message: "required when the connection has none" },
    ]);
  }
  const issuer = input.issuer;
  await validateDiscovery({ issuer, clientId: input.clientId, clientSecret: secret });
  const sealed = seal(derivedKey(deps.settings.keyEncryptionKey, SECRET_PURPOSE), tenantId, Buffer.from(secret));
  const saved = await withTenantTransaction(
    deps.orm,
    async (em) => {
      await requireStepUp(deps, em, principal, own?.toLowerCase());
      await requireActiveTenant(em, tenantId);
      await requireBreakGlassOwners(em, tenantId, input.breakGlassUserIds);
      const before = await rowOf(em, tenantId, true);
      const row = await queryOne<Row>(
        em,
        `insert into sso_connections (tenant_id, issuer, client_id, client_secret_sealed, client_secret_last4, scopes,
           email_claim, name_claim, groups_claim, role_mappings, default_role, sync_roles, trust_idp_mfa, enabled,
           sso_required, break_glass_user_ids, updated_by)
         values (?, ?, ?, ?, ?, ?::text[], ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?::uuid[], ?)
         on conflict (tenant_id) do update set issuer = excluded.issuer, client_id = excluded.client_id,
           client_secret_sealed = excluded.client_secret_sealed, client_secret_last4 = excluded.client_secret_last4,
           scopes = excluded.scopes, email_claim = excluded.email_claim, name_claim = excluded.name_claim,
           groups_claim = excluded.groups_claim, role_mappings = excluded.role_mappings,
           default_role = excluded.default_role, sync_roles = excluded.sync_roles,
           trust_idp_mfa = excluded.trust_idp_mfa, enabled = excluded.enabled, sso_required = excluded.sso_required,
           break_glass_user_ids = excluded.break_glass_user_ids, updated_by = excluded.updated_by, updated_at = now()
         returning ${COLUMNS}`,
        [
          tenantId,
          issuer,
          input.clientId,
          sealed,
          // a short secret would be given away by its last four characters
          secret.length >= 16 ? secret.slice(-4) : "",
          pgArray(scopes),
          input.emailClaim || "email",
          input.nameClaim || "name",
          input.groupsClaim || "groups",
          JSON.stringify(input.roleMappings),
          input.defaultRole ?? "member",
          input.syncRoles,
          input.trustIdpMfa,
          input.enabled,
          input.ssoRequired,
          pgArray(input.breakGlassUserIds.map((id) => id.toLowerCase())),
          principal.subject,
        ],
      );
      if (!row) throw new Error("upsert returned no row");
      const record = fromRow(row);
      await ssoConnectionChanged(em, before ? "updated" : "created", tenantId, {
        ...record,
        secretChanged: input.clientSecret !== "" && input.clientSecret !== existing?.clientSecret,
      });
      return record;
    },
    { tenantId },
  );
  deps.logger.info(
    { sso_enabled: saved.enabled, sso_required: saved.ssoRequired, break_glass_users: saved.breakGlassUserIds.length },
    "SSO connection set",
  );
  return saved;
}

/** DeleteSsoConnection: removes it (idempotent) and audits the deletion. */
export async function deleteSsoConnection(deps: IdentityDeps, requestedTenant: string): Promise<void> {
  const tenantId = ssoAdminTenant(requestedTenant);
  const { principal, tenantId: own } = caller();
  await withTenantTransaction(
    deps.orm,
    async (em) => {
      await requireStepUp(deps, em, principal, own?.toLowerCase());
      const before = await rowOf(em, tenantId, true);
      if (!before) return;
      await query(em, "delete from sso_connections where tenant_id = ?", [tenantId]);
      const r = fromRow(before);
      await ssoConnectionChanged(em, "deleted", tenantId, { ...r, secretChanged: false });
    },
    { tenantId },
  );
  deps.logger.info({}, "SSO connection deleted");
}

/** TestSsoConnection: fresh discovery of the stored connection; failures are reported, not thrown. */
export async function testSsoConnection(
  deps: IdentityDeps,
  requestedTenant: string,
): Promise<{ ok: true; endpoints: DiscoveredEndpoints } | { ok: false; error: string }> {
  const tenantId = ssoAdminTenant(requestedTenant);
  const c = await withTenantTransaction(deps.orm, (em) => connectionWithSecret(deps, em, tenantId), { tenantId });
  if (!c) throw new FailedPrecondition(NO_CONNECTION);
  try {
    return { ok: true, endpoints: endpointsOf(await idpConfiguration(c, true)) };
  } catch (err) {
    return { ok: false, error: describeIdpError(err) };
  }
}
