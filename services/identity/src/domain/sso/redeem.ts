import { randomUUID } from "node:crypto";
import { withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { PermissionDenied, Unauthenticated } from "@tessera/platform/errors";
import type { ClientSeen } from "../../events/publish.ts";
import { loginSucceeded } from "../../events/publish.ts";
import { SsoFailureReason, ssoLoginEvent } from "../../events/publish-sso.ts";
import type { IdentityDeps } from "../deps.ts";
import { mfaAtLogin } from "../mfa/login-gate.ts";
import { PLATFORM_TENANT_ID, requireEdge } from "../roles.ts";
import { sha256Hex } from "../secrets.ts";
import type { LoginOutcome } from "../sessions.ts";
import { startSession } from "../sessions.ts";
import { queryOne, toDate } from "../sql.ts";
import { tenantIsActive } from "../tenants.ts";
import { membershipOf, userById } from "../users.ts";

const INVALID_CODE = "invalid or expired SSO login code: sign in again";

interface CodeRow {
  user_id: string;
  tenant_id: string;
  amr: string[];
  mfa_satisfied: boolean;
  auth_time: unknown;
}

/**
 * RedeemSsoLogin (edges): spends the one-time code of a finished SSO callback (unknown, expired or
 * already redeemed codes are UNAUTHENTICATED and audited) and finishes like a password login: the
 * MFA login gate unless the IdP's own second factor was trusted, else tokens with `amr` `["fed"]`
 * (or `["fed","mfa"]`) and the acr it earns.
 */
export async function redeemSsoLogin(deps: IdentityDeps, code: string, client: ClientSeen): Promise<LoginOutcome> {
  requireEdge("identity.sessions.issue");
  const row = await withPlatformTransaction(deps.orm, (em) =>
    queryOne<CodeRow>(
      em,
      `update sso_login_codes set redeemed_at = now()
       where code_hash = ? and redeemed_at is null and expires_at > now()
       returning user_id, tenant_id, amr, mfa_satisfied, auth_time`,
      [sha256Hex(code)],
    ),
  );
  if (!row) {
    await withTenantTransaction(
      deps.orm,
      (em) =>
        ssoLoginEvent(em, "login_failed", {
          tenantId: PLATFORM_TENANT_ID,
          reason: SsoFailureReason.BAD_CODE,
          detail: "bad_code",
          client,
        }),
      { tenantId: PLATFORM_TENANT_ID },
    );
    throw new Unauthenticated(INVALID_CODE);
  }
  const tenantId = row.tenant_id;
  const outcome = await withTenantTransaction(
    deps.orm,
    async (em): Promise<LoginOutcome | "inactive" | "gone"> => {
      if (!(await tenantIsActive(em, tenantId))) return "inactive";
      const user = await userById(em, row.user_id);
      const membership = await membershipOf(em, tenantId, row.user_id);
      if (!user || user.disabled || !membership) return "gone";
      let mustEnrollBy: Date | undefined;
      if (!row.mfa_satisfied) {
        const gate = await mfaAtLogin(deps, em, user.id, membership, row.amr);
        if (gate.kind === "challenge") return gate;
        mustEnrollBy = gate.mustEnrollBy;
      }
      const session = await startSession(deps, em, user, membership, randomUUID(), {
        amr: row.amr,
        authTime: toDate(row.auth_time),
      });
      await loginSucceeded(em, user.id, client);
      return { kind: "session", session, mustEnrollBy };
    },
    { tenantId },
  );
  if (outcome === "inactive") throw new PermissionDenied("the tenant is not active");
  if (outcome === "gone") throw new Unauthenticated(INVALID_CODE);
  deps.logger.info(
    {
      user_id: row.user_id,
      session_tenant_id: tenantId,
      mfa: outcome.kind === "challenge" ? outcome.challenge.purpose : "none",
    },
    outcome.kind === "challenge" ? "SSO login redeemed: second factor due" : "SSO login redeemed",
  );
  return outcome;
}
