import type { TxEntityManager } from "@tessera/platform/db";
import { FailedPrecondition } from "@tessera/platform/errors";
import type { ClientSeen } from "../../events/publish.ts";
import { ssoLoginEvent } from "../../events/publish-sso.ts";
import type { MembershipRecord } from "../users.ts";
import { connectionOf } from "./connections.ts";

/** What a password login into a tenant may do under its SSO settings. */
export type PasswordLoginRule = "allowed" | "break_glass" | "sso_required";

/** Refusal of a password login into a tenant that requires SSO (after the password was verified). */
export const SSO_REQUIRED = () =>
  new FailedPrecondition("this organisation signs in with single sign-on: use “Sign in with SSO”", [], {
    info: { reason: "SSO_REQUIRED", domain: "identity.tessera.io" },
  });

/**
 * Whether a member may sign in to the tenant with a password: yes unless the tenant's enabled
 * connection requires SSO; then only its break-glass users who are owners now. A break-glass
 * login is audited (`sso.break_glass_login`) in the login's transaction.
 */
export async function passwordLoginRule(
  em: TxEntityManager,
  membership: MembershipRecord,
  client: ClientSeen,
): Promise<PasswordLoginRule> {
  const conn = await connectionOf(em, membership.tenantId);
  if (!conn?.enabled || !conn.ssoRequired) return "allowed";
  if (membership.role !== "owner" || !conn.breakGlassUserIds.includes(membership.userId)) return "sso_required";
  await ssoLoginEvent(em, "break_glass_login", { tenantId: membership.tenantId, userId: membership.userId, client });
  return "break_glass";
}
