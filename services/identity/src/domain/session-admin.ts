import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { InvalidArgument, NotFound, PermissionDenied } from "@tessera/platform/errors";
import { sessionRevoked } from "../events/publish-sessions.ts";
import type { IdentityDeps } from "./deps.ts";
import { type Cursor, decodeCursor, nextPageToken, type PageInput, pageSize } from "./paging.ts";
import { caller, callerTenant, permissions } from "./roles.ts";
import { query, queryOne, toDate, toDateOrUndefined } from "./sql.ts";
import { membershipOf } from "./users.ts";

/**
 * Sessions as tenant admins and their users see them. A session is one refresh-token family of
 * `refresh_tokens` (a platform table, so every statement names the tenant): one sign-in, rotated
 * on every refresh. Its live token is the one neither used, revoked nor expired.
 */
export interface SessionRecord {
  /** The family id. */
  id: string;
  tenantId: string;
  userId: string;
  /** The sign-in: the family's first token. */
  createdAt: Date;
  /** The latest rotation: the current token's issue time. */
  refreshedAt: Date;
  expiresAt: Date;
  revokedAt: Date | undefined;
  amr: string[];
}

interface SessionRow {
  family_id: string;
  tenant_id: string;
  user_id: string;
  amr: string[];
  cursor_at: string;
  refreshed_at: unknown;
  started_at: unknown;
  expires_at: unknown;
  revoked_at: unknown;
}

const NOT_FOUND = "session not found";
const NOT_A_MEMBER = "member not found";

const COLUMNS = `t.family_id, t.tenant_id, t.user_id, t.amr, t.created_at::text as cursor_at, t.created_at as refreshed_at,
  t.expires_at, t.revoked_at,
  (select min(f.created_at) from refresh_tokens f where f.family_id = t.family_id) as started_at`;
const LIVE = "t.used_at is null and t.revoked_at is null and t.expires_at > now()";

function fromRow(r: SessionRow): SessionRecord {
  return {
    id: r.family_id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    createdAt: toDate(r.started_at),
    refreshedAt: toDate(r.refreshed_at),
    expiresAt: toDate(r.expires_at),
    revokedAt: toDateOrUndefined(r.revoked_at),
    amr: r.amr ?? [],
  };
}

/** Who is asking, and what they may do with sessions in their tenant. */
function sessionCaller() {
  const { principal } = caller();
  const tenantId = callerTenant();
  return {
    tenantId,
    /** The calling user's id; undefined for API keys and services (they have no sessions). */
    self: principal.kind === "user" ? principal.subject.toLowerCase() : undefined,
    admin: permissions.can(principal, "identity.members.manage"),
    ownerAdmin: permissions.can(principal, "identity.owners.manage"),
  };
}

type SessionCaller = ReturnType<typeof sessionCaller>;

/** Someone else's sessions: admins only; an owner's: owners only. */
async function requireManage(em: TxEntityManager, who: SessionCaller, userId: string): Promise<void> {
  if (!who.admin) throw new PermissionDenied("only owners and admins end other members' sessions");
  const member = await membershipOf(em, who.tenantId, userId);
  if (member?.role === "owner" && !who.ownerAdmin) throw new PermissionDenied("only owners end an owner's sessions");
}

/**
 * Live sessions of the caller's tenant, most recently refreshed first: the caller's own (`own`),
 * or for owners and admins every member's (or one member's).
 */
export async function listSessions(
  deps: IdentityDeps,
  input: { page: PageInput | undefined; own: boolean; userId: string },
): Promise<{ sessions: SessionRecord[]; nextPageToken: string }> {
  const who = sessionCaller();
  let userId = input.userId.toLowerCase();
  if (input.own) {
    if (!who.self) throw new PermissionDenied("only users have sessions of their own");
    if (userId !== "" && userId !== who.self) {
      throw new InvalidArgument("user_id must be empty or your own id when own is set", [
        { field: "user_id", message: "must be empty or your own id with own" },
      ]);
    }
    userId = who.self;
  } else if (!who.admin) {
    throw new PermissionDenied("only owners and admins list the tenant's sessions: set own to list yours");
  }
  const list = `sessions:${input.own ? "own" : "all"}:${userId}`;
  const cursor = decodeCursor(input.page, who.tenantId, list);
  const size = pageSize(input.page);
  const rows = await withTenantTransaction(deps.orm, (em) =>
    query<SessionRow>(
      em,
      `select ${COLUMNS} from refresh_tokens t
       where t.tenant_id = ? and ${LIVE}
       ${userId ? "and t.user_id = ?" : ""}
       ${cursor ? "and (t.created_at, t.family_id) < (?::timestamptz, ?::uuid)" : ""}
       order by t.created_at desc, t.family_id desc limit ?`,
      [who.tenantId, ...(userId ? [userId] : []), ...(cursor ? [cursor.at, cursor.id] : []), size + 1],
    ),
  );
  const pageRows = rows.slice(0, size);
  const last = pageRows.at(-1);
  const lastCursor: Cursor | undefined = last && { at: last.cursor_at, id: last.family_id };
  return {
    sessions: pageRows.map(fromRow),
    nextPageToken: nextPageToken(who.tenantId, list, lastCursor, rows.length > size),
  };
}

/**
 * Ends one session of the caller's tenant: the caller's own, or (owners and admins) a member's.
 * Another tenant's session id is NotFound; ending an ended session changes nothing.
 */
export async function revokeSession(deps: IdentityDeps, sessionId: string): Promise<SessionRecord> {
  const who = sessionCaller();
  const id = sessionId.toLowerCase();
  const session = await withTenantTransaction(deps.orm, async (em) => {
    // every token of the family, newest first, locked against a concurrent refresh
    const rows = await query<SessionRow & { live: boolean }>(
      em,
      `select ${COLUMNS}, (${LIVE}) as live from refresh_tokens t
       where t.family_id = ? and t.tenant_id = ? order by t.created_at desc for update`,
      [id, who.tenantId],
    );
    const latest = rows[0];
    if (!latest) throw new NotFound(NOT_FOUND);
    if (latest.user_id !== who.self) await requireManage(em, who, latest.user_id);
    if (!rows.some((r) => r.live)) return fromRow(latest);
    const revokedAt = await queryOne<{ at: unknown }>(
      em,
      `update refresh_tokens set revoked_at = now() where family_id = ? and tenant_id = ? and revoked_at is null
       returning revoked_at as at`,
      [id, who.tenantId],
    );
    await sessionRevoked(em, { id, userId: latest.user_id }, false);
    return { ...fromRow(latest), revokedAt: toDateOrUndefined(revokedAt?.at) ?? new Date() };
  });
  deps.logger.info({ session_id: session.id, member_id: session.userId }, "session revoked");
  return session;
}

/**
 * Ends every live session of one member into the caller's tenant: the caller's own, or (owners and
 * admins) a member's; someone who is not a member of the tenant is NotFound. Returns how many.
 */
export async function revokeAllSessions(deps: IdentityDeps, userId: string): Promise<number> {
  const who = sessionCaller();
  const target = userId.toLowerCase();
  const count = await withTenantTransaction(deps.orm, async (em) => {
    if (target !== who.self) {
      if (!who.admin) throw new PermissionDenied("only owners and admins end other members' sessions");
      if (!(await membershipOf(em, who.tenantId, target))) throw new NotFound(NOT_A_MEMBER);
      await requireManage(em, who, target);
    }
    const families = await query<{ family_id: string }>(
      em,
      `select distinct t.family_id from refresh_tokens t where t.tenant_id = ? and t.user_id = ? and ${LIVE}`,
      [who.tenantId, target],
    );
    await em.execute(
      "update refresh_tokens set revoked_at = now() where tenant_id = ? and user_id = ? and revoked_at is null",
      [who.tenantId, target],
      "run",
    );
    for (const f of families) await sessionRevoked(em, { id: f.family_id, userId: target }, true);
    return families.length;
  });
  deps.logger.info({ member_id: target, revoked: count }, "all sessions of a member revoked");
  return count;
}
