import { create } from "@bufbuild/protobuf";
import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { PermissionDenied } from "@tessera/platform/errors";
import { enqueueEvent } from "@tessera/platform/events";
import { ScimSettingsEventSchema } from "@tessera/proto/tessera/identity/v1/scim_pb";
import { toProtoRole } from "../convert.ts";
import { membershipChanged } from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import { requireStepUp } from "./mfa/step-up.ts";
import { atLeast, caller, permissions, TENANT_ROLES, type TenantRole } from "./roles.ts";
import { scimAdminTenant } from "./scim-tokens.ts";
import { pgArray, query, queryOne, toDate } from "./sql.ts";

/** The role a member provisioned through SCIM gets when no mapped group gives one. */
export const DEFAULT_SCIM_ROLE: TenantRole = "member";

/** A provisioned group (by displayName or externalId) whose members get a role. */
export interface GroupRoleMapping {
  group: string;
  role: TenantRole;
}

/** A tenant's SCIM settings. */
export interface ScimSettingsRecord {
  tenantId: string;
  groupRoles: GroupRoleMapping[];
  updatedAt: Date | undefined;
}

function parseMapping(value: unknown): GroupRoleMapping[] {
  const list = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (m): m is GroupRoleMapping =>
      typeof m?.group === "string" && TENANT_ROLES.includes((m as { role: TenantRole }).role),
  );
}

/** The tenant's group → role mapping (empty when none was set). */
export async function groupRoleMapping(em: TxEntityManager, tenantId: string): Promise<GroupRoleMapping[]> {
  const row = await queryOne<{ group_roles: unknown }>(
    em,
    "select group_roles from scim_settings where tenant_id = ?",
    [tenantId],
  );
  return row ? parseMapping(row.group_roles) : [];
}

/** Reads the tenant's SCIM settings (owners, admins, platform admins). */
export async function getScimSettings(deps: IdentityDeps, requestedTenant: string): Promise<ScimSettingsRecord> {
  const tenantId = scimAdminTenant(requestedTenant);
  return withTenantTransaction(
    deps.orm,
    async (em) => {
      const row = await queryOne<{ group_roles: unknown; updated_at: unknown }>(
        em,
        "select group_roles, updated_at from scim_settings where tenant_id = ?",
        [tenantId],
      );
      return {
        tenantId,
        groupRoles: row ? parseMapping(row.group_roles) : [],
        updatedAt: row ? toDate(row.updated_at) : undefined,
      };
    },
    { tenantId },
  );
}

/**
 * Replaces the mapping (only owners and platform admins map a group to `owner`) and re-derives the
 * roles of everyone in a provisioned group or whose role came from one.
 */
export async function updateScimSettings(
  deps: IdentityDeps,
  requestedTenant: string,
  groupRoles: GroupRoleMapping[],
): Promise<ScimSettingsRecord> {
  const tenantId = scimAdminTenant(requestedTenant);
  const { principal, tenantId: own } = caller();
  if (
    groupRoles.some((m) => m.role === "owner") &&
    own !== undefined &&
    !permissions.can(principal, "identity.owners.manage")
  ) {
    throw new PermissionDenied("only owners map a group to the owner role", [
      { field: "group_roles", message: "owner needs an owner" },
    ]);
  }
  return withTenantTransaction(
    deps.orm,
    async (em) => {
      // the mapping decides who becomes an admin: a step-up operation, like API keys
      await requireStepUp(deps, em, principal, tenantId);
      const row = await queryOne<{ updated_at: unknown }>(
        em,
        `insert into scim_settings (tenant_id, group_roles) values (?, ?::jsonb)
         on conflict (tenant_id) do update set group_roles = excluded.group_roles, updated_at = now()
         returning updated_at`,
        [tenantId, JSON.stringify(groupRoles)],
      );
      await enqueueEvent(em, {
        type: "scim.settings_updated",
        aggregateId: tenantId,
        tenantId,
        schema: ScimSettingsEventSchema,
        payload: create(ScimSettingsEventSchema, {
          groupRoles: groupRoles.map((m) => ({ group: m.group, role: toProtoRole(m.role) })),
        }),
      });
      const affected = await query<{ user_id: string }>(
        em,
        `select user_id from scim_group_members where tenant_id = ?
         union select user_id from scim_users where tenant_id = ? and role_from_groups`,
        [tenantId, tenantId],
      );
      await applyGroupRoles(
        deps,
        em,
        tenantId,
        affected.map((r) => r.user_id),
      );
      return { tenantId, groupRoles, updatedAt: toDate(row?.updated_at) };
    },
    { tenantId },
  );
}

function highest(roles: TenantRole[]): TenantRole | undefined {
  return TENANT_ROLES.find((r) => roles.includes(r));
}

/**
 * Sets each user's role from the mapped groups they are in (highest wins). A user in no mapped
 * group whose role came from groups falls back to the default role; other members keep theirs.
 * The tenant's last owner is never demoted this way. Role changes of memberships are reported
 * (`membership.role_changed`), which also evicts the edges' cached tokens of the tenant.
 */
export async function applyGroupRoles(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  userIds: readonly string[],
): Promise<void> {
  if (userIds.length === 0) return;
  const mapping = await groupRoleMapping(em, tenantId);
  const groups = await query<{ user_id: string; display_name: string; external_id: string | null }>(
    em,
    `select gm.user_id, g.display_name, g.external_id from scim_group_members gm
     join scim_groups g on g.id = gm.group_id
     where gm.tenant_id = ? and gm.user_id = any(?::uuid[])`,
    [tenantId, pgArray(userIds)],
  );
  for (const userId of new Set(userIds)) {
    const mine = groups.filter((g) => g.user_id === userId);
    const derived = highest(
      mapping
        .filter((m) =>
          mine.some((g) => g.display_name.toLowerCase() === m.group.toLowerCase() || g.external_id === m.group),
        )
        .map((m) => m.role),
    );
    const state = await queryOne<{ member_role: TenantRole | null; s_role: TenantRole | null; from_groups: boolean }>(
      em,
      `select m.role as member_role, s.role as s_role, coalesce(s.role_from_groups, false) as from_groups
       from (select ?::uuid as user_id) x
       left join memberships m on m.tenant_id = ? and m.user_id = x.user_id
       left join scim_users s on s.tenant_id = ? and s.user_id = x.user_id`,
      [userId, tenantId, tenantId],
    );
    if (!state || (state.member_role === null && state.s_role === null)) continue;
    const target = derived ?? (state.from_groups ? DEFAULT_SCIM_ROLE : undefined);
    if (!target) continue;
    await query(
      em,
      `insert into scim_users (tenant_id, user_id, attrs, role, role_from_groups)
       select ?, u.id, jsonb_build_object('displayName', u.display_name), ?, ? from users u where u.id = ?
       on conflict (tenant_id, user_id) do update set role = excluded.role, role_from_groups = excluded.role_from_groups`,
      [tenantId, target, derived !== undefined, userId],
    );
    const current = state.member_role;
    if (current === null || current === target) continue;
    if (current === "owner" && !atLeast(target, "owner")) {
      const owners = await queryOne<{ n: number }>(
        em,
        "select count(*)::int as n from memberships where tenant_id = ? and role = 'owner'",
        [tenantId],
      );
      if ((owners?.n ?? 0) <= 1) {
        deps.logger.warn({ member_id: userId }, "SCIM group mapping would demote the last owner: kept");
        continue;
      }
    }
    await query(em, "update memberships set role = ?, updated_at = now() where tenant_id = ? and user_id = ?", [
      target,
      tenantId,
      userId,
    ]);
    await membershipChanged(em, "role_changed", userId, target, current);
    deps.logger.info({ member_id: userId, role: target, previous_role: current }, "member role set from SCIM groups");
  }
}
