import { randomUUID } from "node:crypto";
import { withPlatformTransaction, withTenantTransaction } from "@tessera/platform/db";
import { SsoFailureReason } from "../../events/publish-sso.ts";
import type { IdentityDeps } from "../deps.ts";
import { derivedKey, randomSecret, seal, sha256Hex } from "../secrets.ts";
import { tenantIdBySlug, tenantIsActive } from "../tenants.ts";
import { connectionWithSecret } from "./connections.ts";
import type { TenantDirectory } from "./directory.ts";
import { describeIdpError, idpConfiguration, oidc } from "./oidc.ts";

/** Where the IdP sends the browser back, under IDENTITY_SSO_PUBLIC_URL. */
export const CALLBACK_PATH = "/sso/callback";

/** HKDF purpose of the key PKCE verifiers are sealed under (the transaction id is the AAD). */
export const VERIFIER_PURPOSE = "sso pkce verifiers v1";

/** An SSO login refused: `code` and `message` are what the frontend shows; `reason` is audited. */
export class SsoLoginError extends Error {
  readonly code: string;
  readonly reason: SsoFailureReason;
  readonly status: number;
  constructor(code: string, message: string, reason: SsoFailureReason, status = 400) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.status = status;
  }
}

export const refuse = (code: string, message: string, reason: SsoFailureReason, status = 400) =>
  new SsoLoginError(code, message, reason, status);

/** The redirect URI of every connection (admins register it at their IdP). */
export function redirectUri(deps: IdentityDeps): string {
  return `${deps.settings.sso.publicUrl}${CALLBACK_PATH}`;
}

/** Which tenant a login starts for: by email domain (home-realm discovery) or by slug. */
export type StartKey = { email: string } | { slug: string };

async function tenantFor(deps: IdentityDeps, directory: TenantDirectory | undefined, key: StartKey) {
  if ("email" in key) {
    if (!directory) {
      throw refuse(
        "sso_unavailable",
        "sign-in by email address is not available here",
        SsoFailureReason.UNSPECIFIED,
        503,
      );
    }
    const found = await directory.byEmailDomain(key.email);
    if (!found) return undefined;
    return found.active ? found.id : "inactive";
  }
  if (directory) {
    const found = await directory.bySlug(key.slug);
    if (found) return found.active ? found.id : "inactive";
  }
  return withPlatformTransaction(deps.orm, (em) => tenantIdBySlug(em, key.slug));
}

/**
 * `/sso/start`: finds the tenant (the email's verified domain, or the slug), its enabled
 * connection and the IdP's configuration, stores a login transaction (SHA-256 of the state, the
 * nonce, the PKCE verifier sealed, the SHA-256 of a browser-binding secret that goes into a
 * cookie) and returns the IdP's authorization URL (code flow, PKCE S256, state, nonce).
 */
export async function startSsoLogin(
  deps: IdentityDeps,
  directory: TenantDirectory | undefined,
  key: StartKey,
): Promise<{ location: string; browserSecret: string }> {
  const noSso = () =>
    refuse(
      "sso_not_configured",
      "single sign-on is not set up for this organisation",
      SsoFailureReason.UNSPECIFIED,
      404,
    );
  const tenantId = await tenantFor(deps, directory, key);
  if (tenantId === undefined) throw noSso();
  if (tenantId === "inactive") {
    throw refuse("tenant_inactive", "the organisation is not active", SsoFailureReason.NOT_ALLOWED, 403);
  }
  const conn = await withTenantTransaction(
    deps.orm,
    async (em) => ((await tenantIsActive(em, tenantId)) ? connectionWithSecret(deps, em, tenantId) : "inactive"),
    { tenantId },
  );
  if (conn === "inactive")
    throw refuse("tenant_inactive", "the organisation is not active", SsoFailureReason.NOT_ALLOWED, 403);
  if (!conn?.enabled) throw noSso();
  let config: oidc.Configuration;
  try {
    config = await idpConfiguration(conn);
  } catch (err) {
    deps.logger.warn({ err_message: describeIdpError(err) }, "SSO discovery failed at login start");
    throw refuse("idp_unavailable", "the identity provider could not be reached", SsoFailureReason.UNSPECIFIED, 502);
  }
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const verifier = oidc.randomPKCECodeVerifier();
  const browserSecret = randomSecret();
  const id = randomUUID();
  const sealed = seal(derivedKey(deps.settings.keyEncryptionKey, VERIFIER_PURPOSE), id, Buffer.from(verifier));
  await withPlatformTransaction(deps.orm, async (em) => {
    await em.execute(
      `insert into sso_login_transactions (id, state_hash, tenant_id, nonce, code_verifier_sealed, browser_hash, expires_at)
       values (?, ?, ?, ?, ?, ?, now() + make_interval(secs => ?))`,
      [
        id,
        sha256Hex(state),
        tenantId,
        nonce,
        sealed,
        sha256Hex(browserSecret),
        deps.settings.sso.transactionTtlMs / 1000,
      ],
      "run",
    );
    await em.execute("delete from sso_login_transactions where expires_at < now() - interval '1 day'", [], "run");
  });
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri(deps),
    scope: conn.scopes.join(" "),
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    ...("email" in key && { login_hint: key.email }),
  });
  return { location: url.href, browserSecret };
}
