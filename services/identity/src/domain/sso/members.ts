import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { membershipChanged } from "../../events/publish.ts";
import type { IdentityDeps } from "../deps.ts";
import { atLeast, type TenantRole } from "../roles.ts";
import { requireSeats } from "../seats.ts";
import { query, queryOne } from "../sql.ts";
import { type MembershipRecord, membershipOf, normalizeEmail, type UserRecord, userByEmail } from "../users.ts";
import type { RoleMapping } from "./connections.ts";

/** The role the groups claim maps to: the highest of the matched mappings, if any. */
export function mappedRole(mappings: readonly RoleMapping[], groups: readonly string[]): TenantRole | undefined {
  let best: TenantRole | undefined;
  for (const m of mappings) {
    if (groups.includes(m.value) && (best === undefined || !atLeast(best, m.role))) best = m.role;
  }
  return best;
}

/** The groups claim as a list of strings (a single string counts as one group; anything else as none). */
export function groupsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string").slice(0, 1_000);
  return [];
}

/** What signing in through SSO did to the user's membership. */
export interface SsoMember {
  user: UserRecord;
  membership: MembershipRecord;
  created: boolean;
}

/**
 * Finds or creates the global user of the asserted email (a new user has no password) and makes
 * sure they are a member of the tenant: a new member gets the mapped role or the connection's
 * default (seat quota applies); an existing member's role follows the mapping when `syncRoles`,
 * never demoting the tenant's last owner. Runs in the tenant's transaction; undefined for a
 * disabled user.
 */
export async function ensureSsoMember(
  deps: IdentityDeps,
  em: TxEntityManager,
  input: {
    tenantId: string;
    email: string;
    displayName: string;
    mapped: TenantRole | undefined;
    defaultRole: TenantRole;
    syncRoles: boolean;
  },
): Promise<SsoMember | undefined> {
  const email = normalizeEmail(input.email);
  let user = await userByEmail(em, email);
  if (!user) {
    await query(em, "insert into users (id, email, display_name) values (?, ?, ?) on conflict (email) do nothing", [
      randomUUID(),
      email,
      input.displayName.slice(0, 200) || (email.split("@")[0] ?? email),
    ]);
    user = await userByEmail(em, email);
    if (!user) throw new Error("user missing after insert");
  }
  if (user.disabled) return undefined;
  const actor = { kind: "user" as const, id: user.id };
  const current = await membershipOf(em, input.tenantId, user.id, true);
  if (!current) {
    const role = input.mapped ?? input.defaultRole;
    const inserted = await queryOne(
      em,
      "insert into memberships (tenant_id, user_id, role) values (?, ?, ?) on conflict do nothing returning user_id",
      [input.tenantId, user.id, role],
    );
    if (inserted) {
      await requireSeats(deps, em, input.tenantId, 0);
      await membershipChanged(em, "created", user.id, role, undefined, actor);
    }
    const membership = await membershipOf(em, input.tenantId, user.id);
    if (!membership) throw new Error("membership missing after insert");
    return { user, membership, created: inserted !== undefined };
  }
  const wanted = input.mapped;
  if (!input.syncRoles || wanted === undefined || wanted === current.role) {
    return { user, membership: current, created: false };
  }
  if (current.role === "owner") {
    const owners = await queryOne<{ n: number }>(
      em,
      "select count(*)::int as n from memberships where tenant_id = ? and role = 'owner'",
      [input.tenantId],
    );
    if ((owners?.n ?? 0) <= 1) return { user, membership: current, created: false };
  }
  await query(em, "update memberships set role = ?, updated_at = now() where tenant_id = ? and user_id = ?", [
    wanted,
    input.tenantId,
    user.id,
  ]);
  await membershipChanged(em, "role_changed", user.id, wanted, current.role, actor);
  return { user, membership: { ...current, role: wanted, updatedAt: new Date() }, created: false };
}
