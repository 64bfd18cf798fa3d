import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, NotFound, PermissionDenied } from "@tessera/platform/errors";
import { membershipChanged } from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import { type Cursor, decodeCursor, nextPageToken, type PageInput, pageSize } from "./paging.ts";
import { caller, callerTenant, PLATFORM_ADMIN, permissions, type TenantRole } from "./roles.ts";
import { query, queryOne } from "./sql.ts";
import {
  type MembershipRecord,
  type MembershipRow,
  membersByIds,
  membershipFromRow,
  membershipOf,
  membershipsOfUser,
  type UserRecord,
  userById,
  userFromRow,
  usersByIds,
} from "./users.ts";

/** A membership with its user, for lists. */
export interface MemberView {
  membership: MembershipRecord;
  user: UserRecord;
}

const NOT_A_MEMBER = "member not found";

interface MemberRow extends MembershipRow {
  cursor_at: string;
  email: string;
  display_name: string;
  platform_roles: string[];
  disabled_at: unknown;
  user_created_at: unknown;
}

/** The caller's tenant's members, oldest first. */
export async function listMembers(
  deps: IdentityDeps,
  page: PageInput | undefined,
): Promise<{ members: MemberView[]; nextPageToken: string }> {
  permissions.requirePermission("identity.members.read");
  const tenantId = callerTenant();
  const cursor = decodeCursor(page, tenantId, "members");
  const size = pageSize(page);
  const rows = await withTenantTransaction(deps.orm, (em) =>
    query<MemberRow>(
      em,
      `select m.tenant_id, m.user_id, m.role, m.created_at, m.updated_at, m.created_at::text as cursor_at,
              u.email, u.display_name, u.platform_roles, u.disabled_at, u.created_at as user_created_at
       from memberships m join users u on u.id = m.user_id
       where m.tenant_id = ? ${cursor ? "and (m.created_at, m.user_id) > (?::timestamptz, ?::uuid)" : ""}
       order by m.created_at, m.user_id limit ?`,
      [tenantId, ...(cursor ? [cursor.at, cursor.id] : []), size + 1],
    ),
  );
  const pageRows = rows.slice(0, size);
  const members = pageRows.map((r) => ({
    membership: membershipFromRow(r),
    user: userFromRow({
      id: r.user_id,
      email: r.email,
      display_name: r.display_name,
      password_hash: null,
      platform_roles: r.platform_roles,
      disabled_at: r.disabled_at,
      created_at: r.user_created_at,
    }),
  }));
  const last = pageRows.at(-1);
  const lastCursor: Cursor | undefined = last && { at: last.cursor_at, id: last.user_id };
  return { members, nextPageToken: nextPageToken(tenantId, "members", lastCursor, rows.length > size) };
}

async function countOwners(em: TxEntityManager, tenantId: string): Promise<number> {
  const row = await queryOne<{ n: number }>(
    em,
    "select count(*)::int as n from memberships where tenant_id = ? and role = 'owner'",
    [tenantId],
  );
  return row?.n ?? 0;
}

/**
 * Owners and admins change roles in their tenant; only owners grant or take away `owner`, and the
 * last owner stays an owner.
 */
export async function changeMemberRole(
  deps: IdentityDeps,
  userId: string,
  role: TenantRole,
): Promise<MembershipRecord> {
  const principal = permissions.requirePermission("identity.members.manage");
  const tenantId = callerTenant();
  return withTenantTransaction(deps.orm, async (em) => {
    const current = await membershipOf(em, tenantId, userId, true);
    if (!current) throw new NotFound(NOT_A_MEMBER);
    if ((current.role === "owner" || role === "owner") && !permissions.can(principal, "identity.owners.manage")) {
      throw new PermissionDenied("only owners grant or take away the owner role");
    }
    if (current.role === role) return current;
    if (current.role === "owner" && (await countOwners(em, tenantId)) <= 1) {
      throw new FailedPrecondition("the tenant's last owner cannot be demoted");
    }
    const row = await queryOne<MembershipRow>(
      em,
      `update memberships set role = ?, updated_at = now() where tenant_id = ? and user_id = ?
       returning tenant_id, user_id, role, created_at, updated_at`,
      [role, tenantId, userId],
    );
    await membershipChanged(em, "role_changed", userId, role, current.role);
    deps.logger.info({ member_id: userId, role, previous_role: current.role }, "member role changed");
    if (!row) throw new NotFound(NOT_A_MEMBER);
    return membershipFromRow(row);
  });
}

/** Removes a member (not the last owner; only owners remove owners). */
export async function removeMember(deps: IdentityDeps, userId: string): Promise<void> {
  const principal = permissions.requirePermission("identity.members.manage");
  const tenantId = callerTenant();
  await withTenantTransaction(deps.orm, async (em) => {
    const current = await membershipOf(em, tenantId, userId, true);
    if (!current) throw new NotFound(NOT_A_MEMBER);
    if (current.role === "owner") {
      if (!permissions.can(principal, "identity.owners.manage")) {
        throw new PermissionDenied("only owners remove owners");
      }
      if ((await countOwners(em, tenantId)) <= 1)
        throw new FailedPrecondition("the tenant's last owner cannot be removed");
    }
    await em.execute("delete from memberships where tenant_id = ? and user_id = ?", [tenantId, userId], "run");
    await em.execute(
      "update refresh_tokens set revoked_at = now() where user_id = ? and tenant_id = ? and revoked_at is null",
      [userId, tenantId],
      "run",
    );
    await membershipChanged(em, "removed", userId, undefined, current.role);
  });
}

/**
 * Users by id as the caller may see them: members of the caller's tenant, or anyone for a
 * platform admin without a tenant. Others are simply absent (NotFound for GetUser).
 */
export async function visibleUsers(deps: IdentityDeps, ids: readonly string[]): Promise<UserRecord[]> {
  const principal = permissions.requirePermission("identity.users.read");
  const { tenantId } = caller();
  const unique = [...new Set(ids.map((id) => id.toLowerCase()))];
  if (tenantId === undefined) {
    if (!principal.roles.includes(PLATFORM_ADMIN)) throw new PermissionDenied("this call needs a token for a tenant");
    return withPlatformTransaction(deps.orm, (em) => usersByIds(em, unique));
  }
  return withTenantTransaction(deps.orm, (em) => membersByIds(em, tenantId.toLowerCase(), unique));
}

/** One visible user, or NotFound. */
export async function getUser(deps: IdentityDeps, id: string): Promise<UserRecord> {
  const [user] = await visibleUsers(deps, [id]);
  if (!user) throw new NotFound("user not found");
  return user;
}

/** The calling user with all their memberships. */
export async function getViewer(deps: IdentityDeps): Promise<{ user: UserRecord; memberships: MembershipRecord[] }> {
  const { principal } = caller();
  if (principal.kind !== "user") throw new PermissionDenied("GetViewer is for user tokens");
  const result = await withPlatformTransaction(deps.orm, async (em) => {
    const user = await userById(em, principal.subject);
    return user && { user, memberships: await membershipsOfUser(em, user.id) };
  });
  if (!result) throw new NotFound("user not found");
  return result;
}
