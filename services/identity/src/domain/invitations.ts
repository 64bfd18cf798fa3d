import { randomUUID } from "node:crypto";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { AlreadyExists, InvalidArgument, NotFound, PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import { invitationChanged, membershipChanged } from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import { accountLockedUntil, recordAccountFailure } from "./lockout.ts";
import { type Cursor, decodeCursor, nextPageToken, type PageInput, pageSize } from "./paging.ts";
import { caller, permissions, requireEdge, type TenantRole } from "./roles.ts";
import { requireSeats } from "./seats.ts";
import { newInvitationToken, sha256Hex } from "./secrets.ts";
import { query, queryOne, setLocal, toDate } from "./sql.ts";
import { tenantIsActive } from "./tenants.ts";
import {
  type MembershipRecord,
  type MembershipRow,
  membershipFromRow,
  normalizeEmail,
  type UserRecord,
  type UserRow,
  userByEmail,
  userFromRow,
} from "./users.ts";

/** Where an invitation is in its single-use life. */
export type InvitationState = "pending" | "accepted" | "revoked" | "expired";

/** An invitation as tenant admins see it (never its token). */
export interface InvitationRecord {
  id: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  state: InvitationState;
  invitedBy: string;
  createdAt: Date;
  expiresAt: Date;
}

interface InvitationRow {
  id: string;
  tenant_id: string;
  email: string;
  role: TenantRole;
  invited_by: string;
  created_at: string;
  expires_at: unknown;
  accepted_at: unknown;
  revoked_at: unknown;
  expired: boolean;
}

const COLUMNS =
  "id, tenant_id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at, expires_at <= now() as expired";
const NOT_FOUND = "invitation not found";
const INVALID = "invitation not found or no longer valid";

function fromRow(r: InvitationRow): InvitationRecord {
  let state: InvitationState = "pending";
  if (r.accepted_at !== null) state = "accepted";
  else if (r.revoked_at !== null) state = "revoked";
  else if (r.expired) state = "expired";
  return {
    id: r.id,
    tenantId: r.tenant_id,
    email: r.email,
    role: r.role,
    state,
    invitedBy: r.invited_by,
    createdAt: toDate(r.created_at),
    expiresAt: toDate(r.expires_at),
  };
}

/** The tenant an invitation call acts on: the token's, or for platform admins the one named. */
function invitationTenant(requested: string, role: TenantRole): string {
  const { principal, tenantId } = caller();
  if (tenantId !== undefined) {
    permissions.requirePermission("identity.invitations.manage");
    if (requested !== "" && requested.toLowerCase() !== tenantId.toLowerCase()) throw new NotFound("tenant not found");
    if (role === "owner" && !permissions.can(principal, "identity.owners.manage")) {
      throw new PermissionDenied("only owners invite owners");
    }
    return tenantId.toLowerCase();
  }
  permissions.requirePermission("identity.invitations.bootstrap");
  if (requested === "") {
    throw new InvalidArgument("tenant_id is required for platform-level callers", [
      { field: "tenant_id", message: "required when the token has no tenant" },
    ]);
  }
  return requested.toLowerCase();
}

/**
 * Invites an email address to the tenant with a role. A pending invitation to the same address is
 * replaced; an address that already belongs to a member is AlreadyExists; a tenant whose plan's
 * seats are all taken gets QuotaExceeded (`seats`).
 */
export async function createInvitation(
  deps: IdentityDeps,
  input: { email: string; role: TenantRole; tenantId: string },
): Promise<{ invitation: InvitationRecord; token: string }> {
  const tenantId = invitationTenant(input.tenantId, input.role);
  const email = normalizeEmail(input.email);
  const token = newInvitationToken();
  const invitedBy = caller().principal.subject;
  const invitation = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (!(await tenantIsActive(em, tenantId))) throw new PermissionDenied("the tenant is not active");
      const member = await queryOne(
        em,
        "select 1 from memberships m join users u on u.id = m.user_id where m.tenant_id = ? and u.email = ?",
        [tenantId, email],
      );
      if (member) throw new AlreadyExists("that address already belongs to a member");
      await requireSeats(deps, em, tenantId, 1);
      await query(
        em,
        `update invitations set revoked_at = now(), updated_at = now()
         where tenant_id = ? and email = ? and accepted_at is null and revoked_at is null`,
        [tenantId, email],
      );
      const row = await queryOne<InvitationRow>(
        em,
        `insert into invitations (id, tenant_id, email, role, token_hash, invited_by, expires_at)
         values (?, ?, ?, ?, ?, ?, now() + make_interval(secs => ?)) returning ${COLUMNS}`,
        [randomUUID(), tenantId, email, input.role, sha256Hex(token), invitedBy, deps.settings.invitationTtlMs / 1000],
      );
      if (!row) throw new Error("insert returned no row");
      const created = fromRow(row);
      await invitationChanged(em, "created", created.id, created.role);
      return created;
    },
    { tenantId },
  );
  deps.logger.info({ invitation_id: invitation.id }, "invitation created");
  return { invitation, token };
}

async function invitationByToken(em: TxEntityManager, tokenHash: string): Promise<InvitationRow | undefined> {
  await setLocal(em, "app.invitation_token_hash", tokenHash);
  const row = await queryOne<InvitationRow>(em, `select ${COLUMNS} from invitations where token_hash = ?`, [tokenHash]);
  await setLocal(em, "app.invitation_token_hash", "");
  return row;
}

/** Another acceptance created the invitee's user after this one looked (their transaction committed first). */
class UserCreatedMeanwhile extends Error {}

/** Inserts the invitee as a new user, or undefined when a concurrent acceptance already created them. */
async function insertInvitee(
  em: TxEntityManager,
  user: { email: string; displayName: string; passwordHash: string },
): Promise<UserRecord | undefined> {
  // waits for a concurrent insert of the same email to commit, then does nothing: no unique violation
  const row = await queryOne<UserRow>(
    em,
    `insert into users (id, email, display_name, password_hash) values (?, ?, ?, ?) on conflict do nothing
     returning id, email, display_name, password_hash, platform_roles, disabled_at, created_at`,
    [randomUUID(), normalizeEmail(user.email), user.displayName, user.passwordHash],
  );
  return row && userFromRow(row);
}

/**
 * Spends an invitation token (edges only): a new user is created with the password; an existing
 * user must give their current password. Then the membership is added, once, if the tenant's plan
 * has a seat for it (QuotaExceeded on `seats` otherwise, and nothing changes).
 *
 * Concurrent acceptances never fail with an internal error. Two invitations (say, from two tenants)
 * for the same new address accepted at once both succeed with the same user: the one that loses the
 * race to create the user starts over as an acceptance by an existing user, so it must carry that
 * user's password (else Unauthenticated, like any wrong password). The same token accepted twice at
 * once succeeds once; the other gets the NotFound every spent token gets.
 */
export async function acceptInvitation(
  deps: IdentityDeps,
  input: { token: string; password: string; displayName: string },
): Promise<{ membership: MembershipRecord; userCreated: boolean }> {
  requireEdge("identity.invitations.accept");
  try {
    return await acceptOnce(deps, input);
  } catch (err) {
    if (!(err instanceof UserCreatedMeanwhile)) throw err;
    return acceptOnce(deps, input);
  }
}

async function acceptOnce(
  deps: IdentityDeps,
  input: { token: string; password: string; displayName: string },
): Promise<{ membership: MembershipRecord; userCreated: boolean }> {
  const tokenHash = sha256Hex(input.token);
  const found = await withPlatformTransaction(deps.orm, async (em) => {
    const invitation = await invitationByToken(em, tokenHash);
    const user = invitation && (await userByEmail(em, invitation.email));
    const lockedUntil = user && (await accountLockedUntil(em, user.id));
    return { invitation, user, lockedUntil };
  });
  const invitation = found.invitation && fromRow(found.invitation);
  if (invitation?.state !== "pending") throw new NotFound(INVALID);
  const existing = found.user;
  let newPasswordHash: string | undefined;
  if (existing) {
    const ok =
      !found.lockedUntil &&
      existing.passwordHash !== undefined &&
      (await deps.hasher.verify(existing.passwordHash, input.password));
    if (!ok) {
      if (!found.lockedUntil) {
        await withPlatformTransaction(deps.orm, (em) => recordAccountFailure(em, existing.id, deps.settings.lockout));
      }
      throw new Unauthenticated("invalid email or password");
    }
  } else {
    newPasswordHash = await deps.hasher.hash(input.password);
  }
  return withTenantTransaction(
    deps.orm,
    async (em) => {
      const row = await queryOne<InvitationRow>(
        em,
        `select ${COLUMNS} from invitations where tenant_id = ? and id = ? for update`,
        [invitation.tenantId, invitation.id],
      );
      if (!row || fromRow(row).state !== "pending") throw new NotFound(INVALID);
      if (!(await tenantIsActive(em, invitation.tenantId))) throw new PermissionDenied("the tenant is not active");
      const user =
        existing ??
        (await insertInvitee(em, {
          email: invitation.email,
          displayName: input.displayName || invitation.email.split("@")[0] || invitation.email,
          passwordHash: newPasswordHash as string,
        }));
      if (!user) throw new UserCreatedMeanwhile();
      const inserted = await queryOne<MembershipRow>(
        em,
        `insert into memberships (tenant_id, user_id, role) values (?, ?, ?) on conflict do nothing
         returning tenant_id, user_id, role, created_at, updated_at`,
        [invitation.tenantId, user.id, invitation.role],
      );
      // counted with the new membership, under the lock of the tenant's plan row (one at a time)
      if (inserted) await requireSeats(deps, em, invitation.tenantId, 0);
      await query(em, "update invitations set accepted_at = now(), accepted_by = ?, updated_at = now() where id = ?", [
        user.id,
        invitation.id,
      ]);
      await invitationChanged(em, "accepted", invitation.id, invitation.role, user.id);
      let membershipRow = inserted;
      if (inserted) {
        await membershipChanged(em, "created", user.id, invitation.role, undefined, { kind: "user", id: user.id });
      } else {
        membershipRow = await queryOne<MembershipRow>(
          em,
          "select tenant_id, user_id, role, created_at, updated_at from memberships where tenant_id = ? and user_id = ?",
          [invitation.tenantId, user.id],
        );
      }
      if (!membershipRow) throw new Error("membership missing after insert");
      deps.logger.info({ invitation_id: invitation.id, user_id: user.id }, "invitation accepted");
      return { membership: membershipFromRow(membershipRow), userCreated: existing === undefined };
    },
    { tenantId: invitation.tenantId },
  );
}

/** The caller's tenant's invitations, newest first. */
export async function listInvitations(
  deps: IdentityDeps,
  page: PageInput | undefined,
): Promise<{ invitations: InvitationRecord[]; nextPageToken: string }> {
  permissions.requirePermission("identity.invitations.manage");
  const tenantId = invitationTenant("", "viewer");
  const cursor = decodeCursor(page, tenantId, "invitations");
  const size = pageSize(page);
  const rows = await withTenantTransaction(deps.orm, (em) =>
    query<InvitationRow>(
      em,
      `select ${COLUMNS} from invitations where tenant_id = ?
       ${cursor ? "and (created_at, id) < (?::timestamptz, ?::uuid)" : ""}
       order by created_at desc, id desc limit ?`,
      [tenantId, ...(cursor ? [cursor.at, cursor.id] : []), size + 1],
    ),
  );
  const pageRows = rows.slice(0, size);
  const last = pageRows.at(-1);
  const lastCursor: Cursor | undefined = last && { at: last.created_at, id: last.id };
  return {
    invitations: pageRows.map(fromRow),
    nextPageToken: nextPageToken(tenantId, "invitations", lastCursor, rows.length > size),
  };
}

/** Withdraws a pending invitation of the caller's tenant (accepted ones cannot be withdrawn). */
export async function revokeInvitation(deps: IdentityDeps, id: string): Promise<InvitationRecord> {
  permissions.requirePermission("identity.invitations.manage");
  const tenantId = invitationTenant("", "viewer");
  return withTenantTransaction(deps.orm, async (em) => {
    const row = await queryOne<InvitationRow>(
      em,
      `select ${COLUMNS} from invitations where tenant_id = ? and id = ? for update`,
      [tenantId, id],
    );
    if (!row) throw new NotFound(NOT_FOUND);
    const current = fromRow(row);
    if (current.state !== "pending") return current;
    const updated = await queryOne<InvitationRow>(
      em,
      `update invitations set revoked_at = now(), updated_at = now() where tenant_id = ? and id = ? returning ${COLUMNS}`,
      [tenantId, id],
    );
    if (!updated) throw new NotFound(NOT_FOUND);
    await invitationChanged(em, "revoked", id, current.role);
    return fromRow(updated);
  });
}
