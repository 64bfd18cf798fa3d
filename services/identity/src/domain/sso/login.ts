import { withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import type { ClientSeen } from "../../events/publish.ts";
import { SsoFailureReason, ssoLoginEvent } from "../../events/publish-sso.ts";
import type { IdentityDeps } from "../deps.ts";
import { PLATFORM_TENANT_ID } from "../roles.ts";
import { derivedKey, randomSecret, sameDigest, sha256Hex, unseal } from "../secrets.ts";
import { pgArray, queryOne } from "../sql.ts";
import { tenantIsActive } from "../tenants.ts";
import { connectionWithSecret } from "./connections.ts";
import type { TenantDirectory } from "./directory.ts";
import { ensureSsoMember, groupsOf, mappedRole } from "./members.ts";
import { describeIdpError, idpConfiguration, oidc } from "./oidc.ts";
import { redirectUri, refuse, type SsoLoginError, VERIFIER_PURPOSE } from "./start.ts";

/** `amr` values of an IdP that name a second factor or a phishing-resistant method (RFC 8176). */
const IDP_MFA_METHODS = new Set(["mfa", "otp", "hwk", "swk", "sms", "tel", "sc", "fpt", "face", "iris", "retina"]);

interface TransactionRow {
  id: string;
  tenant_id: string;
  nonce: string;
  code_verifier_sealed: Buffer;
  browser_hash: string;
  expired: boolean;
  consumed_at: unknown;
}

/** Takes the login transaction of a callback: checked, bound to this browser, spent at once. */
async function takeTransaction(deps: IdentityDeps, state: string, browserSecret: string | undefined) {
  return withPlatformTransaction(deps.orm, async (em) => {
    const row = await queryOne<TransactionRow>(
      em,
      `select id, tenant_id, nonce, code_verifier_sealed, browser_hash, expires_at <= now() as expired, consumed_at
       from sso_login_transactions where state_hash = ? for update`,
      [sha256Hex(state)],
    );
    if (!row) return { kind: "unknown" } as const;
    if (row.consumed_at !== null) return { kind: "replayed", tenantId: row.tenant_id } as const;
    await em.execute("update sso_login_transactions set consumed_at = now() where id = ?", [row.id], "run");
    if (row.expired) return { kind: "expired", tenantId: row.tenant_id } as const;
    if (!browserSecret || !sameDigest(sha256Hex(browserSecret), row.browser_hash)) {
      return { kind: "browser", tenantId: row.tenant_id } as const;
    }
    const verifier = unseal(
      derivedKey(deps.settings.keyEncryptionKey, VERIFIER_PURPOSE),
      row.id,
      Buffer.from(row.code_verifier_sealed),
    ).toString("utf8");
    return { kind: "ok", tenantId: row.tenant_id, nonce: row.nonce, verifier } as const;
  });
}

/** Refuses and audits: `sso.login_failed` under the tenant (the platform tenant when unknown). */
async function fail(deps: IdentityDeps, tenantId: string | undefined, err: SsoLoginError, client: ClientSeen) {
  const tenant = tenantId ?? PLATFORM_TENANT_ID;
  await withTenantTransaction(
    deps.orm,
    (em) => ssoLoginEvent(em, "login_failed", { tenantId: tenant, reason: err.reason, detail: err.code, client }),
    { tenantId: tenant },
  );
  deps.logger.warn(
    { sso_error: err.code, detail: err.message, session_tenant_id: tenantId ?? null },
    "SSO login refused",
  );
  return err;
}

/** `sso.login_failed` reasons of the ID token and code exchange checks, by what openid-client says. */
function exchangeFailure(err: unknown): SsoLoginError {
  const e = err as { name?: string; error?: string; code?: string; message?: string };
  const what = describeIdpError(err);
  if (e?.name === "ResponseBodyError" || e?.error) {
    return refuse("idp_rejected", `the identity provider refused the login: ${what}`, SsoFailureReason.IDP_REJECTED);
  }
  if (e?.name === "TimeoutError" || e?.name === "AbortError" || e?.name === "TypeError") {
    return refuse(
      "idp_unavailable",
      `the identity provider could not be reached: ${what}`,
      SsoFailureReason.IDP_REJECTED,
      502,
    );
  }
  return refuse(
    "invalid_id_token",
    `the identity provider's answer failed validation: ${what}`,
    SsoFailureReason.TOKEN_INVALID,
  );
}

/**
 * `/sso/callback`: spends the login transaction (state must be known, unexpired, unspent and bound
 * to this browser), exchanges the code with openid-client (PKCE verifier, expected state and
 * nonce, ID token issuer, audience, expiry and signature checked; `none` is never accepted), checks
 * that the asserted email's verified domain belongs to this tenant, finds or creates the member,
 * and returns a one-time code for the frontend. Every refusal is audited and thrown as
 * {@link SsoLoginError}.
 */
export async function finishSsoLogin(
  deps: IdentityDeps,
  directory: TenantDirectory | undefined,
  input: { params: URLSearchParams; browserSecret: string | undefined; client: ClientSeen },
): Promise<{ code: string; tenantId: string }> {
  const { params, client } = input;
  const state = params.get("state") ?? "";
  if (state === "" || state.length > 256) {
    throw await fail(
      deps,
      undefined,
      refuse("invalid_state", "the callback has no valid state", SsoFailureReason.BAD_STATE),
      client,
    );
  }
  const tx = await takeTransaction(deps, state, input.browserSecret);
  const tenantId = tx.kind === "unknown" ? undefined : tx.tenantId;
  const stop = async (code: string, message: string, reason: SsoFailureReason, status = 400) =>
    fail(deps, tenantId, refuse(code, message, reason, status), client);
  switch (tx.kind) {
    case "unknown":
      throw await stop("invalid_state", "unknown login: start again", SsoFailureReason.BAD_STATE);
    case "replayed":
      throw await stop("replayed", "this login was already completed: start again", SsoFailureReason.REPLAYED);
    case "expired":
      throw await stop("expired", "the login took too long: start again", SsoFailureReason.BAD_STATE);
    case "browser":
      throw await stop(
        "invalid_state",
        "the login was started in another browser: start again",
        SsoFailureReason.BAD_STATE,
      );
  }
  if (params.has("error")) {
    const idpError = (params.get("error") ?? "").replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 64);
    throw await stop("idp_error", `the identity provider answered ${idpError}`, SsoFailureReason.IDP_REJECTED);
  }
  if (tx.verifier === "")
    throw await stop("missing_pkce", "the login has no PKCE verifier: start again", SsoFailureReason.BAD_STATE);
  const conn = await withTenantTransaction(deps.orm, (em) => connectionWithSecret(deps, em, tx.tenantId), {
    tenantId: tx.tenantId,
  });
  if (!conn?.enabled)
    throw await stop(
      "connection_disabled",
      "single sign-on is disabled for this organisation",
      SsoFailureReason.CONNECTION_DISABLED,
      403,
    );

  let claims: oidc.IDToken;
  try {
    const config = await idpConfiguration(conn);
    const current = new URL(redirectUri(deps));
    current.search = params.toString();
    const tokens = await oidc.authorizationCodeGrant(config, current, {
      pkceCodeVerifier: tx.verifier,
      expectedState: state,
      expectedNonce: tx.nonce,
      idTokenExpected: true,
    });
    const found = tokens.claims();
    if (!found) throw new Error("no ID token");
    claims = found;
  } catch (err) {
    const refused = exchangeFailure(err);
    throw await fail(deps, tx.tenantId, refused, client);
  }

  const email = claims[conn.emailClaim];
  if (typeof email !== "string" || !/^[^\s@]{1,64}@[^\s@]{1,253}$/.test(email)) {
    throw await stop(
      "no_email",
      `the ID token has no email address in claim ${conn.emailClaim}`,
      SsoFailureReason.TOKEN_INVALID,
    );
  }
  if (claims.email_verified === false) {
    throw await stop(
      "email_unverified",
      "the identity provider has not verified the email address",
      SsoFailureReason.FOREIGN_DOMAIN,
      403,
    );
  }
  if (!directory) {
    throw await stop(
      "sso_unavailable",
      "the organisation's email domains cannot be checked now",
      SsoFailureReason.UNSPECIFIED,
      503,
    );
  }
  let owner: Awaited<ReturnType<TenantDirectory["byEmailDomain"]>>;
  try {
    owner = await directory.byEmailDomain(email);
  } catch {
    throw await stop(
      "sso_unavailable",
      "the organisation's email domains cannot be checked now",
      SsoFailureReason.UNSPECIFIED,
      503,
    );
  }
  if (owner?.id !== tx.tenantId) {
    throw await stop(
      "foreign_domain",
      "the email address is not in a domain verified by this organisation",
      SsoFailureReason.FOREIGN_DOMAIN,
      403,
    );
  }

  const idpAmr = Array.isArray(claims.amr)
    ? claims.amr.filter((m): m is string => typeof m === "string").slice(0, 20)
    : [];
  const mfaSatisfied = conn.trustIdpMfa && idpAmr.some((m) => IDP_MFA_METHODS.has(m));
  const amr = mfaSatisfied ? ["fed", "mfa"] : ["fed"];
  const authTime = typeof claims.auth_time === "number" ? new Date(claims.auth_time * 1000) : new Date();
  const name = claims[conn.nameClaim];
  const code = `tso_${randomSecret()}`;
  const outcome = await withTenantTransaction(
    deps.orm,
    async (em) => {
      if (!(await tenantIsActive(em, tx.tenantId))) return undefined;
      const member = await ensureSsoMember(deps, em, {
        tenantId: tx.tenantId,
        email,
        displayName: typeof name === "string" ? name : "",
        mapped: mappedRole(conn.roleMappings, groupsOf(claims[conn.groupsClaim])),
        defaultRole: conn.defaultRole,
        syncRoles: conn.syncRoles,
      });
      if (!member) return undefined;
      await em.execute(
        `insert into sso_login_codes (code_hash, user_id, tenant_id, amr, mfa_satisfied, auth_time, expires_at)
         values (?, ?, ?, ?::text[], ?, ?, now() + make_interval(secs => ?))`,
        [
          sha256Hex(code),
          member.user.id,
          tx.tenantId,
          pgArray(amr),
          mfaSatisfied,
          authTime,
          deps.settings.sso.codeTtlMs / 1000,
        ],
        "run",
      );
      await ssoLoginEvent(em, "login_succeeded", {
        tenantId: tx.tenantId,
        userId: member.user.id,
        idpAmr,
        memberCreated: member.created,
        client,
      });
      return member;
    },
    { tenantId: tx.tenantId },
  ).catch(async (err: unknown) => {
    if ((err as { kind?: string }).kind === "ResourceExhausted") {
      throw await stop(
        "no_seat",
        "the organisation has no seat left for a new member",
        SsoFailureReason.NOT_ALLOWED,
        403,
      );
    }
    throw err;
  });
  if (!outcome)
    throw await stop(
      "not_allowed",
      "this account may not sign in to the organisation",
      SsoFailureReason.NOT_ALLOWED,
      403,
    );
  deps.logger.info(
    { user_id: outcome.user.id, session_tenant_id: tx.tenantId, member_created: outcome.created, amr },
    "SSO callback accepted",
  );
  return { code, tenantId: tx.tenantId };
}
