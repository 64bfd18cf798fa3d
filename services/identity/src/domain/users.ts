import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import type { TenantRole } from "./roles.ts";
import { pgArray, query, queryOne, setLocal, toDate } from "./sql.ts";

/** A user as identity stores it. */
export interface UserRecord {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string | undefined;
  platformRoles: string[];
  disabled: boolean;
  createdAt: Date;
}

/** A user's membership in one tenant. */
export interface MembershipRecord {
  tenantId: string;
  userId: string;
  role: TenantRole;
  createdAt: Date;
  updatedAt: Date;
}

export interface UserRow {
  id: string;
  email: string;
  display_name: string;
  password_hash: string | null;
  platform_roles: string[];
  disabled_at: unknown;
  created_at: unknown;
}

export interface MembershipRow {
  tenant_id: string;
  user_id: string;
  role: TenantRole;
  created_at: unknown;
  updated_at: unknown;
}

const USER_COLUMNS = "u.id, u.email, u.display_name, u.password_hash, u.platform_roles, u.disabled_at, u.created_at";

/** Row → record. */
export function userFromRow(r: UserRow): UserRecord {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    passwordHash: r.password_hash ?? undefined,
    platformRoles: r.platform_roles,
    disabled: r.disabled_at !== null,
    createdAt: toDate(r.created_at),
  };
}

/** Row → record. */
export function membershipFromRow(r: MembershipRow): MembershipRecord {
  return {
    tenantId: r.tenant_id,
    userId: r.user_id,
    role: r.role,
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}

/** Emails are compared lower-cased (the column holds them so). */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function userByEmail(em: TxEntityManager, email: string): Promise<UserRecord | undefined> {
  const row = await queryOne<UserRow>(em, `select ${USER_COLUMNS} from users u where u.email = ?`, [
    normalizeEmail(email),
  ]);
  return row && userFromRow(row);
}

export async function userById(em: TxEntityManager, id: string): Promise<UserRecord | undefined> {
  const row = await queryOne<UserRow>(em, `select ${USER_COLUMNS} from users u where u.id = ?`, [id]);
  return row && userFromRow(row);
}

/**
 * Users by id, limited to members of the transaction's tenant (the join goes through the
 * RLS-bound memberships table). Run in a tenant transaction.
 */
export async function membersByIds(
  em: TxEntityManager,
  tenantId: string,
  ids: readonly string[],
): Promise<UserRecord[]> {
  const rows = await query<UserRow>(
    em,
    `select ${USER_COLUMNS} from users u join memberships m on m.user_id = u.id
     where m.tenant_id = ? and u.id = any(?::uuid[])`,
    [tenantId, pgArray(ids)],
  );
  return rows.map(userFromRow);
}

/** Users by id, of any tenant (platform admins). */
export async function usersByIds(em: TxEntityManager, ids: readonly string[]): Promise<UserRecord[]> {
  const rows = await query<UserRow>(em, `select ${USER_COLUMNS} from users u where u.id = any(?::uuid[])`, [
    pgArray(ids),
  ]);
  return rows.map(userFromRow);
}

export async function insertUser(
  em: TxEntityManager,
  user: { email: string; displayName: string; passwordHash: string; platformRoles?: readonly string[] },
): Promise<UserRecord> {
  const row = await queryOne<UserRow>(
    em,
    `insert into users (id, email, display_name, password_hash, platform_roles) values (?, ?, ?, ?, ?::text[])
     returning id, email, display_name, password_hash, platform_roles, disabled_at, created_at`,
    [randomUUID(), normalizeEmail(user.email), user.displayName, user.passwordHash, pgArray(user.platformRoles ?? [])],
  );
  if (!row) throw new Error("insert returned no row");
  return userFromRow(row);
}

export async function setPasswordHash(em: TxEntityManager, userId: string, hash: string): Promise<void> {
  await query(em, "update users set password_hash = ?, updated_at = now() where id = ?", [hash, userId]);
}

/**
 * Every membership of one user, across tenants: the only cross-tenant read of memberships. It
 * opens the `memberships_of_user` policy for exactly this user id, transaction-locally.
 */
export async function membershipsOfUser(em: TxEntityManager, userId: string): Promise<MembershipRecord[]> {
  await setLocal(em, "app.user_id", userId);
  const rows = await query<MembershipRow>(
    em,
    "select tenant_id, user_id, role, created_at, updated_at from memberships where user_id = ? order by created_at",
    [userId],
  );
  await setLocal(em, "app.user_id", "");
  return rows.map(membershipFromRow);
}

/** One membership in the transaction's tenant. */
export async function membershipOf(
  em: TxEntityManager,
  tenantId: string,
  userId: string,
  lock = false,
): Promise<MembershipRecord | undefined> {
  const row = await queryOne<MembershipRow>(
    em,
    `select tenant_id, user_id, role, created_at, updated_at from memberships where tenant_id = ? and user_id = ?${lock ? " for update" : ""}`,
    [tenantId, userId],
  );
  return row && membershipFromRow(row);
}
