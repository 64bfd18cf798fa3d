import { env, z } from "@tessera/platform/config";

/** SSO's environment variables (see README.md, Single sign-on). */
export const ssoEnv = {
  /**
   * The public base URL under which browsers reach identity's `/sso/*` (the edges forward it);
   * the IdP redirects to `<this>/sso/callback`, which admins register at their IdP.
   */
  IDENTITY_SSO_PUBLIC_URL: env.url().default("http://127.0.0.1:50072"),
  /** The first-party frontend page an SSO login ends on, with `?code=tso_…` or `?error=…`. */
  IDENTITY_SSO_FRONTEND_URL: env.url().default("http://127.0.0.1:5173/sso/complete"),
  /** How long a login may take at the IdP (state, nonce and PKCE verifier live this long). */
  IDENTITY_SSO_TRANSACTION_TTL_MS: z.coerce.number().int().min(60_000).max(3_600_000).default(600_000),
  /** How long the frontend has to redeem the one-time code. */
  IDENTITY_SSO_CODE_TTL_MS: z.coerce.number().int().min(10_000).max(600_000).default(60_000),
  /** tenancy's gRPC URL, for home-realm discovery by verified email domain (unset: SSO start by slug only). */
  TENANCY_URL: env.url().optional(),
};

/** SSO's settings. */
export interface SsoSettings {
  publicUrl: string;
  frontendUrl: string;
  transactionTtlMs: number;
  codeTtlMs: number;
  tenancyUrl: string | undefined;
}

/** Settings from the parsed environment. */
export function ssoSettingsFrom(config: {
  IDENTITY_SSO_PUBLIC_URL: string;
  IDENTITY_SSO_FRONTEND_URL: string;
  IDENTITY_SSO_TRANSACTION_TTL_MS: number;
  IDENTITY_SSO_CODE_TTL_MS: number;
  TENANCY_URL?: string | undefined;
}): SsoSettings {
  return {
    publicUrl: config.IDENTITY_SSO_PUBLIC_URL.replace(/\/+$/, ""),
    frontendUrl: config.IDENTITY_SSO_FRONTEND_URL,
    transactionTtlMs: config.IDENTITY_SSO_TRANSACTION_TTL_MS,
    codeTtlMs: config.IDENTITY_SSO_CODE_TTL_MS,
    tenancyUrl: config.TENANCY_URL,
  };
}
