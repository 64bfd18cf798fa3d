import { z } from "@tessera/platform/config";

/** A web origin (`scheme://host[:port]`, nothing after it); http only for localhost. */
const origin = z.string().refine(
  (v) => {
    try {
      const url = new URL(v);
      const local = url.hostname === "localhost" || url.hostname.endsWith(".localhost");
      return url.origin === v && (url.protocol === "https:" || (url.protocol === "http:" && local));
    } catch {
      return false;
    }
  },
  { message: "each origin must be scheme://host[:port] without a path (https, or http for localhost)" },
);

/**
 * WebAuthn's environment: the relying party (RP) id passkeys are bound to, the origins their
 * ceremonies may come from, and how long a challenge lives. `./tessera up` sets them for localhost.
 */
export const webauthnEnv = {
  /** The RP id: the site's registrable domain (or `localhost`); passkeys are bound to it. */
  IDENTITY_WEBAUTHN_RP_ID: z
    .string()
    .regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, {
      message: "must be a lower-case domain name such as example.com or localhost",
    })
    .default("localhost"),
  /** The name authenticators show for the RP. */
  IDENTITY_WEBAUTHN_RP_NAME: z.string().min(1).max(64).default("Tessera"),
  /** Comma-separated origins of the web apps that run passkey ceremonies. */
  IDENTITY_WEBAUTHN_ORIGINS: z
    .string()
    .default("http://localhost:4000")
    .transform((v) =>
      v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== ""),
    )
    .pipe(z.array(origin).min(1, { message: "at least one origin" })),
  IDENTITY_WEBAUTHN_CHALLENGE_TTL_MS: z.coerce.number().int().min(30_000).max(600_000).default(300_000),
};

/** Every origin's host must be the RP id or under it (else browsers refuse the ceremony anyway). */
export function checkWebauthnEnv(
  env: { IDENTITY_WEBAUTHN_RP_ID: string; IDENTITY_WEBAUTHN_ORIGINS: string[] },
  ctx: z.RefinementCtx,
): void {
  const rpId = env.IDENTITY_WEBAUTHN_RP_ID;
  for (const o of env.IDENTITY_WEBAUTHN_ORIGINS) {
    const host = new URL(o).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      ctx.addIssue({
        code: "custom",
        path: ["IDENTITY_WEBAUTHN_ORIGINS"],
        message: `every origin's host must be IDENTITY_WEBAUTHN_RP_ID or a subdomain of it (${o} is not)`,
      });
    }
  }
}

/** What the WebAuthn ceremonies need. */
export interface WebauthnSettings {
  rpId: string;
  rpName: string;
  origins: readonly string[];
  challengeTtlMs: number;
}

/** The settings from the parsed environment. */
export function webauthnSettingsFrom(config: {
  IDENTITY_WEBAUTHN_RP_ID: string;
  IDENTITY_WEBAUTHN_RP_NAME: string;
  IDENTITY_WEBAUTHN_ORIGINS: string[];
  IDENTITY_WEBAUTHN_CHALLENGE_TTL_MS: number;
}): WebauthnSettings {
  return {
    rpId: config.IDENTITY_WEBAUTHN_RP_ID,
    rpName: config.IDENTITY_WEBAUTHN_RP_NAME,
    origins: config.IDENTITY_WEBAUTHN_ORIGINS,
    challengeTtlMs: config.IDENTITY_WEBAUTHN_CHALLENGE_TTL_MS,
  };
}
