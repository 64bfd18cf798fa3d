import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { AlreadyExists, FailedPrecondition, NotFound } from "@tessera/platform/errors";
import { membershipChanged } from "../events/publish.ts";
import { membershipActivation, scimUserUpdated } from "../events/publish-scim.ts";
import type { IdentityDeps } from "./deps.ts";
import type { TenantRole } from "./roles.ts";
import { applyGroupRoles, DEFAULT_SCIM_ROLE } from "./scim-settings.ts";
import { requireSeats } from "./seats.ts";
import { pgArray, query, queryOne, toDate } from "./sql.ts";
import { revokeTenantSessions } from "./tenant-sessions.ts";
import { membershipsOfUser, normalizeEmail, userByEmail } from "./users.ts";

/** Per-tenant SCIM attributes of a user that identity keeps as given (users themselves are global). */
export interface ScimUserAttrs {
  displayName?: string;
  name?: { formatted?: string; givenName?: string; familyName?: string };
  emails?: Array<{ value: string; type?: string; primary?: boolean }>;
}

/** A user as the tenant's SCIM client sees it. */
export interface ScimUserRecord {
  id: string;
  userName: string;
  externalId: string | undefined;
  attrs: ScimUserAttrs;
  active: boolean;
  role: TenantRole;
  createdAt: Date;
  modifiedAt: Date;
}

/** What a SCIM write wants the user to be. */
export interface ScimUserInput {
  userName: string;
  externalId: string | undefined;
  attrs: ScimUserAttrs;
  active: boolean;
}

export interface ScimUserRow {
  id: string;
  email: string;
  display_name: string;
  external_id: string | null;
  attrs: unknown;
  has_scim: boolean;
  active: boolean;
  role: TenantRole;
  created_at: unknown;
  modified_at: unknown;
}

/**
 * Every user the tenant's SCIM client sees, as relation `r`: its members, plus users SCIM
 * deactivated (kept in scim_users without a membership). Parameters: the tenant id, twice.
 */
export const SCIM_USERS_RELATION = `(
  select u.id, u.email, u.display_name, x.external_id, coalesce(x.attrs, '{}'::jsonb) as attrs,
         x.has_scim, x.active, x.role, x.created_at, greatest(u.updated_at, x.modified_at) as modified_at
  from (
    -- a full join plans as a hash or merge join: never a nested loop over the tenant's members
    select coalesce(m.user_id, s.user_id) as user_id, s.external_id, s.attrs, s.user_id is not null as has_scim,
           m.user_id is not null as active, coalesce(m.role, s.role) as role,
           coalesce(s.created_at, m.created_at) as created_at, greatest(m.updated_at, s.updated_at) as modified_at
    from (select user_id, role, created_at, updated_at from memberships where tenant_id = ?) m
    full join (select * from scim_users where tenant_id = ?) s on s.user_id = m.user_id
  ) x join users u on u.id = x.user_id
) r`;

const relationParams = (tenantId: string) => [tenantId, tenantId];

function fromRow(r: ScimUserRow): ScimUserRecord {
  const attrs = (typeof r.attrs === "string" ? JSON.parse(r.attrs) : r.attrs) as ScimUserAttrs;
  return {
    id: r.id,
    userName: r.email,
    externalId: r.external_id ?? undefined,
    attrs: r.has_scim ? attrs : { displayName: r.display_name },
    active: r.active,
    role: r.role,
    createdAt: toDate(r.created_at),
    modifiedAt: toDate(r.modified_at),
  };
}

/** One page of the tenant's SCIM users matching `where` (SQL over `r`), oldest first, with the total. */
export async function listScimUsers(
  em: TxEntityManager,
  tenantId: string,
  where: { sql: string; params: unknown[] },
  offset: number,
  limit: number,
): Promise<{ users: ScimUserRecord[]; total: number }> {
  const rows = await query<ScimUserRow & { total: number }>(
    em,
    `select r.*, count(*) over ()::int as total from ${SCIM_USERS_RELATION}
     where ${where.sql} order by r.created_at, r.id offset ? limit ?`,
    [...relationParams(tenantId), ...where.params, offset, limit],
  );
  if (rows.length > 0 || offset === 0) return { users: rows.map(fromRow), total: rows[0]?.total ?? 0 };
  const count = await queryOne<{ n: number }>(
    em,
    `select count(*)::int as n from ${SCIM_USERS_RELATION} where ${where.sql}`,
    [...relationParams(tenantId), ...where.params],
  );
  return { users: [], total: count?.n ?? 0 };
}

/** One SCIM user of the tenant; with `lock`, later writes to this user wait for the transaction. */
export async function scimUserById(
  em: TxEntityManager,
  tenantId: string,
  id: string,
  lock = false,
): Promise<ScimUserRecord | undefined> {
  if (lock) await query(em, "select pg_advisory_xact_lock(hashtext(?))", [`scim-user:${tenantId}:${id}`]);
  const row = await queryOne<ScimUserRow>(em, `select r.* from ${SCIM_USERS_RELATION} where r.id = ?::uuid`, [
    ...relationParams(tenantId),
    id,
  ]);
  return row && fromRow(row);
}

/** The tenant's groups of each user (id → groups), for the read-only `groups` attribute. */
export async function groupsOfUsers(
  em: TxEntityManager,
  tenantId: string,
  userIds: readonly string[],
): Promise<Map<string, Array<{ id: string; displayName: string }>>> {
  const out = new Map<string, Array<{ id: string; displayName: string }>>();
  if (userIds.length === 0) return out;
  const rows = await query<{ user_id: string; id: string; display_name: string }>(
    em,
    `select gm.user_id, g.id, g.display_name from scim_group_members gm join scim_groups g on g.id = gm.group_id
     where gm.tenant_id = ? and gm.user_id = any(?::uuid[]) order by g.display_name`,
    [tenantId, pgArray(userIds)],
  );
  for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), { id: r.id, displayName: r.display_name }]);
  return out;
}

async function countOwners(em: TxEntityManager, tenantId: string): Promise<number> {
  const row = await queryOne<{ n: number }>(
    em,
    "select count(*)::int as n from memberships where tenant_id = ? and role = 'owner'",
    [tenantId],
  );
  return row?.n ?? 0;
}

async function withdrawMembership(em: TxEntityManager, tenantId: string, user: ScimUserRecord): Promise<void> {
  if (user.role === "owner" && (await countOwners(em, tenantId)) <= 1) {
    throw new FailedPrecondition("the tenant's last owner cannot be deactivated or deleted through SCIM");
  }
  await query(em, "delete from memberships where tenant_id = ? and user_id = ?", [tenantId, user.id]);
  await revokeTenantSessions(em, tenantId, user.id);
}

async function grantMembership(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  userId: string,
  role: TenantRole,
) {
  const inserted = await queryOne(
    em,
    "insert into memberships (tenant_id, user_id, role) values (?, ?, ?) on conflict do nothing returning user_id",
    [tenantId, userId, role],
  );
  // counted with the new membership, under the lock of the tenant's plan row
  if (inserted) await requireSeats(deps, em, tenantId, 0);
  return inserted !== undefined;
}

async function changeUserName(em: TxEntityManager, tenantId: string, userId: string, userName: string) {
  const others = (await membershipsOfUser(em, userId)).filter((m) => m.tenantId !== tenantId);
  const user = await queryOne<{ password_hash: string | null }>(em, "select password_hash from users where id = ?", [
    userId,
  ]);
  if (others.length > 0 || user?.password_hash) {
    throw new FailedPrecondition(
      "userName of a user who also signs in on their own or belongs to other tenants cannot be changed through SCIM",
    );
  }
  const taken = await userByEmail(em, userName);
  if (taken && taken.id !== userId) throw new AlreadyExists("userName is already taken");
  await query(em, "update users set email = ?, updated_at = now() where id = ?", [normalizeEmail(userName), userId]);
}

const ATTRIBUTE_NAMES = ["displayName", "name", "emails"] as const;

/**
 * Creates a provisioned user: the global user is found by email (a user of other tenants keeps
 * those memberships untouched) or created without a password, then gets a membership of this
 * tenant with the default role (unless `active` is false). AlreadyExists when the tenant's SCIM
 * client already sees that user.
 */
export async function createScimUser(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  input: ScimUserInput,
): Promise<string> {
  const email = normalizeEmail(input.userName);
  await query(em, "select pg_advisory_xact_lock(hashtext(?))", [`scim-email:${tenantId}:${email}`]);
  let user = await userByEmail(em, email);
  if (user && (await scimUserById(em, tenantId, user.id))) throw new AlreadyExists("userName is already taken");
  if (!user) {
    const display = input.attrs.displayName ?? input.attrs.name?.formatted ?? email.split("@")[0] ?? email;
    await query(em, "insert into users (id, email, display_name) values (?, ?, ?) on conflict (email) do nothing", [
      randomUUID(),
      email,
      display,
    ]);
    user = await userByEmail(em, email);
    if (!user) throw new Error("user missing after insert");
  }
  await query(
    em,
    `insert into scim_users (tenant_id, user_id, external_id, attrs, active, role) values (?, ?, ?, ?::jsonb, ?, ?)`,
    [tenantId, user.id, input.externalId ?? null, JSON.stringify(input.attrs), input.active, DEFAULT_SCIM_ROLE],
  );
  if (input.active && (await grantMembership(deps, em, tenantId, user.id, DEFAULT_SCIM_ROLE))) {
    await membershipChanged(em, "created", user.id, DEFAULT_SCIM_ROLE, undefined);
  }
  deps.logger.info({ user_id: user.id, active: input.active }, "SCIM user provisioned");
  return user.id;
}

/**
 * Writes a provisioned user's new state (PUT, or PATCH after applying the operations): its
 * attributes, its userName (see changeUserName), and `active`: false withdraws the membership and
 * revokes the user's sessions into the tenant at once; true grants it again with the role kept.
 */
export async function updateScimUser(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  current: ScimUserRecord,
  next: ScimUserInput,
): Promise<void> {
  const changed: string[] = [];
  if (normalizeEmail(next.userName) !== current.userName) {
    await changeUserName(em, tenantId, current.id, next.userName);
    changed.push("userName");
  }
  if ((next.externalId ?? null) !== (current.externalId ?? null)) changed.push("externalId");
  for (const a of ATTRIBUTE_NAMES) {
    if (JSON.stringify(next.attrs[a] ?? null) !== JSON.stringify(current.attrs[a] ?? null)) changed.push(a);
  }
  if (current.active && !next.active) {
    await withdrawMembership(em, tenantId, current);
    await membershipActivation(em, "deactivated", current.id, current.role);
    changed.push("active");
    deps.logger.info({ user_id: current.id }, "SCIM user deactivated: membership withdrawn, sessions revoked");
  } else if (!current.active && next.active) {
    await grantMembership(deps, em, tenantId, current.id, current.role);
    await membershipActivation(em, "reactivated", current.id, current.role);
    changed.push("active");
  }
  await query(
    em,
    `insert into scim_users (tenant_id, user_id, external_id, attrs, active, role) values (?, ?, ?, ?::jsonb, ?, ?)
     on conflict (tenant_id, user_id) do update set external_id = excluded.external_id, attrs = excluded.attrs,
       active = excluded.active, updated_at = now()`,
    [tenantId, current.id, next.externalId ?? null, JSON.stringify(next.attrs), next.active, current.role],
  );
  if (changed.length > 0) await scimUserUpdated(em, current.id, changed);
  if (!current.active && next.active) await applyGroupRoles(deps, em, tenantId, [current.id]);
}

/** Removes the user from the tenant (membership, SCIM record, groups); the global user stays. */
export async function deleteScimUser(deps: IdentityDeps, em: TxEntityManager, tenantId: string, id: string) {
  const current = await scimUserById(em, tenantId, id, true);
  if (!current) throw new NotFound("user not found");
  if (current.active) await withdrawMembership(em, tenantId, current);
  await query(em, "delete from scim_group_members where tenant_id = ? and user_id = ?", [tenantId, id]);
  await query(em, "delete from scim_users where tenant_id = ? and user_id = ?", [tenantId, id]);
  await membershipChanged(em, "removed", id, undefined, current.role);
  deps.logger.info({ user_id: id }, "SCIM user removed from the tenant");
}
