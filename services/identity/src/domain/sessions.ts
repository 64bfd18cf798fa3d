import { randomUUID } from "node:crypto";
import { type TxEntityManager, withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, PermissionDenied, ResourceExhausted, Unauthenticated } from "@tessera/platform/errors";
import {
  type ClientSeen,
  LoginFailureReason,
  lockedOut,
  loginFailed,
  loginSucceeded,
  refreshReuseDetected,
} from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import {
  accountLockedUntil,
  ipBlocked,
  recordAccountFailure,
  recordIpFailure,
  resetAccountFailures,
} from "./lockout.ts";
import { type LoginChallenge, mfaAtLogin } from "./mfa/login-gate.ts";
import { PLATFORM_TENANT_ID, requireEdge } from "./roles.ts";
import { newRefreshToken, sha256Hex } from "./secrets.ts";
import { pgArray, queryOne, toDate, toDateOrUndefined } from "./sql.ts";
import { passwordLoginRule, SSO_REQUIRED } from "./sso/password-policy.ts";
import { tenantIdBySlug, tenantIsActive } from "./tenants.ts";
import {
  type MembershipRecord,
  membershipOf,
  membershipsOfUser,
  setPasswordHash,
  type UserRecord,
  userByEmail,
  userById,
} from "./users.ts";

/** What Login and Refresh hand back. */
export interface Session {
  accessToken: string;
  accessTokenExpiresAt: Date;
  refreshToken: string;
  refreshTokenExpiresAt: Date;
  userId: string;
  /** Undefined for a platform-level session. */
  tenantId: string | undefined;
}

/** How a session's user authenticated: kept with its refresh tokens, written into its access tokens. */
export interface SessionAuth {
  /** RFC 8176 methods: ["pwd"], ["pwd", "otp"], ["pwd", "rcv"]. */
  amr: readonly string[];
  authTime: Date;
}

/** What Login answers: a session, or a challenge for a second factor (or for enrolling one). */
export type LoginOutcome =
  | { kind: "session"; session: Session; mustEnrollBy: Date | undefined }
  | { kind: "challenge"; challenge: LoginChallenge };

/** Login input (already shape-validated). */
export interface LoginInput {
  email: string;
  password: string;
  tenant: { id: string } | { slug: string } | undefined;
  client: ClientSeen;
}

/** The one answer for unknown user, wrong password, locked account and "not a member". */
const INVALID_CREDENTIALS = "invalid email or password";
const INVALID_REFRESH = "invalid or expired refresh token";

/** Events without a tenant of their own go to the platform tenant. */
const tenantOrPlatform = (tenantId: string | undefined) => tenantId ?? PLATFORM_TENANT_ID;

function inTenant<T>(deps: IdentityDeps, tenantId: string | undefined, fn: (em: TxEntityManager) => Promise<T>) {
  return withTenantTransaction(deps.orm, fn, { tenantId: tenantOrPlatform(tenantId) });
}

/** Which tenant a login is for, given the user's memberships; undefined = platform session. */
type TenantChoice = { kind: "tenant"; membership: MembershipRecord } | { kind: "platform" } | { kind: "none" };

async function chooseTenant(deps: IdentityDeps, user: UserRecord, memberships: MembershipRecord[], input: LoginInput) {
  const wanted = input.tenant;
  if (wanted !== undefined) {
    const id =
      "id" in wanted
        ? wanted.id.toLowerCase()
        : await withPlatformTransaction(deps.orm, (em) => tenantIdBySlug(em, wanted.slug));
    const membership = memberships.find((m) => m.tenantId === id);
    return membership ? ({ kind: "tenant", membership } as const) : ({ kind: "none" } as const);
  }
  const [only, ...more] = memberships;
  if (only && more.length === 0) return { kind: "tenant", membership: only } as const;
  if (!only) return user.platformRoles.length > 0 ? ({ kind: "platform" } as const) : ({ kind: "none" } as const);
  throw new FailedPrecondition("the user belongs to several tenants: name one", [
    { field: "tenant_id", message: "required when the user belongs to several tenants (or give tenant_slug)" },
  ]);
}

/** The tenant a failed login is recorded under: the user's tenant when it is clear which, else the platform. */
function failureTenant(memberships: MembershipRecord[], input: LoginInput): string | undefined {
  const wanted = input.tenant;
  if (wanted && "id" in wanted) return memberships.find((m) => m.tenantId === wanted.id.toLowerCase())?.tenantId;
  return memberships.length === 1 ? memberships[0]?.tenantId : undefined;
}

async function fail(
  deps: IdentityDeps,
  input: LoginInput,
  tenantId: string | undefined,
  reason: LoginFailureReason,
  user?: UserRecord,
): Promise<never> {
  await inTenant(deps, tenantId, async (em) => {
    await recordIpFailure(em, input.client.ip, deps.settings.ipLimit);
    let failedAttempts = 0;
    let lockedUntil: Date | undefined;
    if (user && reason === LoginFailureReason.WRONG_PASSWORD) {
      ({ failedCount: failedAttempts, lockedUntil } = await recordAccountFailure(em, user.id, deps.settings.lockout));
    }
    await loginFailed(em, { ...(user && { userId: user.id }), reason, failedAttempts }, input.client);
    if (user && lockedUntil) {
      await lockedOut(em, user.id, failedAttempts, lockedUntil, input.client);
      deps.logger.warn({ user_id: user.id, failed_attempts: failedAttempts }, "account locked after failed logins");
    }
  });
  throw new Unauthenticated(INVALID_CREDENTIALS);
}

/**
 * Password login. Unknown users and locked accounts spend the same argon2 work as a wrong
 * password and get the same answer; failures count per account (lockout with backoff) and per
 * client address (ResourceExhausted while blocked).
 */
export async function login(deps: IdentityDeps, input: LoginInput): Promise<LoginOutcome> {
  requireEdge("identity.sessions.issue");
  const pre = await withPlatformTransaction(deps.orm, async (em) => {
    if (await ipBlocked(em, input.client.ip)) return { blocked: true as const };
    const user = await userByEmail(em, input.email);
    if (!user) return { blocked: false as const, user };
    const lockedUntil = await accountLockedUntil(em, user.id);
    const memberships = await membershipsOfUser(em, user.id);
    return { blocked: false as const, user, lockedUntil, memberships };
  });
  if (pre.blocked) throw new ResourceExhausted("too many failed logins from this address: retry later");
  const { user } = pre;
  if (!user || user.disabled || user.passwordHash === undefined) {
    await deps.hasher.burn(input.password);
    return fail(deps, input, undefined, LoginFailureReason.UNKNOWN_USER, undefined);
  }
  const memberships = pre.memberships ?? [];
  if (pre.lockedUntil) {
    await deps.hasher.burn(input.password);
    return fail(deps, input, failureTenant(memberships, input), LoginFailureReason.LOCKED, user);
  }
  if (!(await deps.hasher.verify(user.passwordHash, input.password))) {
    return fail(deps, input, failureTenant(memberships, input), LoginFailureReason.WRONG_PASSWORD, user);
  }
  if (deps.hasher.needsRehash(user.passwordHash)) {
    const rehashed = await deps.hasher.hash(input.password);
    await withPlatformTransaction(deps.orm, (em) => setPasswordHash(em, user.id, rehashed));
  }
  const choice: TenantChoice = await chooseTenant(deps, user, memberships, input);
  if (choice.kind === "none") {
    return fail(deps, input, undefined, LoginFailureReason.NOT_A_MEMBER, user);
  }
  const tenantId = choice.kind === "tenant" ? choice.membership.tenantId : undefined;
  const membership = choice.kind === "tenant" ? choice.membership : undefined;
  const result = await inTenant(deps, tenantId, async (em): Promise<LoginOutcome | "sso" | undefined> => {
    if (tenantId !== undefined && !(await tenantIsActive(em, tenantId))) {
      await resetAccountFailures(em, user.id);
      await loginFailed(em, { userId: user.id, reason: LoginFailureReason.TENANT_INACTIVE }, input.client);
      return undefined;
    }
    if (membership && (await passwordLoginRule(em, membership, input.client)) === "sso_required") {
      await loginFailed(em, { userId: user.id, reason: LoginFailureReason.SSO_REQUIRED }, input.client);
      return "sso";
    }
    // with a second factor due, the password alone resets nothing: failures keep counting until it is given
    const gate = await mfaAtLogin(deps, em, user.id, membership);
    if (gate.kind === "challenge") return gate;
    await resetAccountFailures(em, user.id);
    const session = await startSession(deps, em, user, membership, randomUUID(), {
      amr: ["pwd"],
      authTime: new Date(),
    });
    await loginSucceeded(em, user.id, input.client);
    return { kind: "session", session, mustEnrollBy: gate.mustEnrollBy };
  });
  if (!result) throw new PermissionDenied("the tenant is not active");
  if (result === "sso") throw SSO_REQUIRED();
  deps.logger.info(
    {
      user_id: user.id,
      session_tenant_id: tenantId ?? null,
      mfa: result.kind === "challenge" ? result.challenge.purpose : "none",
    },
    result.kind === "challenge" ? "password verified: second factor due" : "login succeeded",
  );
  return result;
}

/** Mints the access token and stores a new refresh token of the family, in `em`'s transaction. */
export async function startSession(
  deps: IdentityDeps,
  em: TxEntityManager,
  user: UserRecord,
  membership: MembershipRecord | undefined,
  familyId: string,
  auth: SessionAuth,
): Promise<Session> {
  const { settings } = deps;
  const access = await deps.signer.sign(
    {
      sub: user.id,
      kind: "user",
      tid: membership?.tenantId,
      roles: membership ? [membership.role] : user.platformRoles,
      scopes: [],
      amr: auth.amr,
      authTime: auth.authTime,
    },
    settings.edgeAudience,
    settings.accessTokenTtlMs,
  );
  const refreshToken = newRefreshToken();
  const row = await queryOne<{ expires_at: unknown }>(
    em,
    `insert into refresh_tokens (id, family_id, token_hash, user_id, tenant_id, amr, auth_time, expires_at)
     values (?, ?, ?, ?, ?, ?::text[], ?, now() + make_interval(secs => ?)) returning expires_at`,
    [
      randomUUID(),
      familyId,
      sha256Hex(refreshToken),
      user.id,
      membership?.tenantId ?? null,
      pgArray(auth.amr),
      auth.authTime,
      settings.refreshTokenTtlMs / 1000,
    ],
  );
  return {
    accessToken: access.token,
    accessTokenExpiresAt: access.expiresAt,
    refreshToken,
    refreshTokenExpiresAt: toDate(row?.expires_at),
    userId: user.id,
    tenantId: membership?.tenantId,
  };
}

interface RefreshRow {
  id: string;
  family_id: string;
  user_id: string;
  tenant_id: string | null;
  amr: string[];
  auth_time: unknown;
  expired: boolean;
  used_at: unknown;
  revoked_at: unknown;
}

const REFRESH_ROW = `select id, family_id, user_id, tenant_id, amr, coalesce(auth_time, created_at) as auth_time, expires_at <= now() as expired, used_at, revoked_at
  from refresh_tokens where token_hash = ?`;

/**
 * Rotates a refresh token: the presented one is spent and a new one of the same family issued,
 * with a fresh access token carrying the member's current role. A spent token presented again
 * revokes the whole family (and reports `refresh_token.reuse_detected`).
 */
export async function refresh(deps: IdentityDeps, token: string, client: ClientSeen): Promise<Session> {
  requireEdge("identity.sessions.issue");
  const hash = sha256Hex(token);
  const found = await withPlatformTransaction(deps.orm, (em) => queryOne<RefreshRow>(em, REFRESH_ROW, [hash]));
  if (!found) throw new Unauthenticated(INVALID_REFRESH);
  const tenantId = found.tenant_id ?? undefined;
  const outcome = await inTenant(deps, tenantId, async (em) => {
    const row = await queryOne<RefreshRow>(em, `${REFRESH_ROW} for update`, [hash]);
    if (!row || row.revoked_at !== null || row.expired) return { kind: "invalid" } as const;
    if (row.used_at !== null) {
      await em.execute(
        "update refresh_tokens set revoked_at = now() where family_id = ? and revoked_at is null",
        [row.family_id],
        "run",
      );
      await refreshReuseDetected(em, row.user_id, row.family_id, client);
      return { kind: "reuse", row } as const;
    }
    await em.execute("update refresh_tokens set used_at = now() where id = ?", [row.id], "run");
    const user = await userById(em, row.user_id);
    if (!user || user.disabled) return { kind: "invalid" } as const;
    let membership: MembershipRecord | undefined;
    if (tenantId !== undefined) {
      if (!(await tenantIsActive(em, tenantId))) return { kind: "inactive" } as const;
      membership = await membershipOf(em, tenantId, user.id);
      if (!membership) return { kind: "invalid" } as const;
    }
    // a refresh is no new sign-in: the session keeps its methods and auth_time
    const auth = { amr: row.amr, authTime: toDateOrUndefined(row.auth_time) ?? new Date() };
    return { kind: "ok", session: await startSession(deps, em, user, membership, row.family_id, auth) } as const;
  });
  switch (outcome.kind) {
    case "ok":
      return outcome.session;
    case "reuse":
      deps.logger.warn(
        { user_id: outcome.row.user_id, family_id: outcome.row.family_id },
        "refresh token reused: family revoked",
      );
      throw new Unauthenticated(INVALID_REFRESH);
    case "inactive":
      throw new PermissionDenied("the tenant is not active");
    default:
      throw new Unauthenticated(INVALID_REFRESH);
  }
}

/** Revokes the family of a refresh token; unknown tokens are ignored (the answer is the same). */
export async function logout(deps: IdentityDeps, token: string): Promise<void> {
  requireEdge("identity.sessions.issue");
  await withPlatformTransaction(deps.orm, (em) =>
    em.execute(
      `update refresh_tokens set revoked_at = now()
       where family_id = (select family_id from refresh_tokens where token_hash = ?) and revoked_at is null`,
      [sha256Hex(token)],
      "run",
    ),
  );
}
