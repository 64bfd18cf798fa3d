import { env, z } from "@tessera/platform/config";
import { databaseEnv, natsEnv, serviceEnv } from "@tessera/platform/service";
import { type SsoSettings, ssoEnv, ssoSettingsFrom } from "./domain/sso/settings.ts";
import {
  checkWebauthnEnv,
  type WebauthnSettings,
  webauthnEnv,
  webauthnSettingsFrom,
} from "./domain/webauthn/settings.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** Base64 (standard or url-safe) that decodes to at least 32 bytes; the value is never echoed. */
const keyEncryptionKey = z
  .string()
  .refine((v) => /^[A-Za-z0-9+/_-]+={0,2}$/.test(v) && Buffer.from(v, "base64").length >= 32, {
    message: "must be base64 of at least 32 random bytes (e.g. `openssl rand -base64 32`)",
  });

const ms = (fallback: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(fallback);

/**
 * identity's environment: the kit's service, database and NATS variables (PORT defaults to 50062),
 * and its own, each with a safe default except the key-encryption key. See README.md for the table.
 */
const identityFields = z.object({
  ...serviceEnv,
  ...databaseEnv,
  ...natsEnv,
  PORT: env.port(50062),
  /** The `iss` identity writes (and its own verifier expects); every service's AUTH_ISSUER. */
  AUTH_ISSUER: z.string().min(1).default("http://127.0.0.1:50072"),
  /** Where identity's JWKS is served; unused by identity itself (it verifies from its key store). */
  AUTH_JWKS_URL: env.url().default("http://127.0.0.1:50072/.well-known/jwks.json"),
  /** HTTP/1.1 port of `GET /.well-known/jwks.json` (the gRPC port speaks HTTP/2 only). */
  HTTP_PORT: env.port(50072),
  IDENTITY_KEY_ENCRYPTION_KEY: keyEncryptionKey,
  IDENTITY_SIGNING_ALG: z.enum(["EdDSA", "ES256"]).default("EdDSA"),
  IDENTITY_KEY_RELOAD_MS: ms(30_000, 1_000, 10 * MINUTE),
  IDENTITY_EDGE_AUDIENCE: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .default("tessera-edge"),
  IDENTITY_ACCESS_TOKEN_TTL_MS: ms(10 * MINUTE, 5 * MINUTE, 15 * MINUTE),
  IDENTITY_INTERNAL_TOKEN_TTL_MS: ms(5 * MINUTE, 30_000, 15 * MINUTE),
  IDENTITY_SERVICE_TOKEN_TTL_MS: ms(10 * MINUTE, MINUTE, 60 * MINUTE),
  IDENTITY_REFRESH_TOKEN_TTL_MS: ms(30 * DAY, 10 * MINUTE, 365 * DAY),
  IDENTITY_INVITATION_TTL_MS: ms(7 * DAY, MINUTE, 90 * DAY),
  /** How long a rotated-out SCIM token stays valid at most (until the new one is first used). */
  IDENTITY_SCIM_ROTATION_OVERLAP_MS: ms(60 * MINUTE, 0, DAY),
  /** OWASP (2024) argon2id minimum: m=19456 KiB, t=2, p=1. Lower only in tests. */
  IDENTITY_ARGON2_MEMORY_KIB: z.coerce.number().int().min(8).max(4_194_304).default(19_456),
  IDENTITY_ARGON2_TIME_COST: z.coerce.number().int().min(1).max(20).default(2),
  IDENTITY_ARGON2_PARALLELISM: z.coerce.number().int().min(1).max(16).default(1),
  IDENTITY_LOCKOUT_THRESHOLD: z.coerce.number().int().min(1).max(100).default(5),
  IDENTITY_LOCKOUT_BASE_MS: ms(MINUTE, 1_000, DAY),
  IDENTITY_LOCKOUT_MAX_MS: ms(60 * MINUTE, 1_000, 7 * DAY),
  IDENTITY_IP_MAX_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(50),
  IDENTITY_IP_BLOCK_BASE_MS: ms(MINUTE, 1_000, DAY),
  IDENTITY_IP_BLOCK_MAX_MS: ms(60 * MINUTE, 1_000, 7 * DAY),
  /** The issuer an authenticator app shows next to the account (otpauth:// `issuer`). */
  IDENTITY_MFA_ISSUER: z.string().min(1).max(64).default("Tessera"),
  IDENTITY_MFA_CHALLENGE_TTL_MS: ms(5 * MINUTE, 30_000, 15 * MINUTE),
  /** Sensitive operations need a second factor no older than this (step-up). */
  IDENTITY_STEP_UP_MAX_AGE_MS: ms(10 * MINUTE, MINUTE, DAY),
  IDENTITY_CONSUME_TENANT_EVENTS: env.bool(true),
  IDENTITY_TENANT_CONSUMER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default("identity_tenants"),
  ...webauthnEnv,
  ...ssoEnv,
});

/** With the checks across variables (WebAuthn origins under the RP id). */
export const identityEnv = identityFields.superRefine(checkWebauthnEnv);

/** Parsed identity configuration. */
export type IdentityConfig = z.infer<typeof identityEnv>;

/** The settings the domain needs, decoupled from environment variable names. */
export interface IdentitySettings {
  issuer: string;
  edgeAudience: string;
  signingAlg: "EdDSA" | "ES256";
  keyEncryptionKey: Buffer;
  keyReloadMs: number;
  accessTokenTtlMs: number;
  internalTokenTtlMs: number;
  serviceTokenTtlMs: number;
  refreshTokenTtlMs: number;
  invitationTtlMs: number;
  scimRotationOverlapMs: number;
  argon2: { memoryCost: number; timeCost: number; parallelism: number };
  lockout: { threshold: number; baseMs: number; maxMs: number };
  ipLimit: { maxFailuresPerMinute: number; blockBaseMs: number; blockMaxMs: number };
  mfa: { issuer: string; challengeTtlMs: number; stepUpMaxAgeMs: number };
  webauthn: WebauthnSettings;
  sso: SsoSettings;
}

/** Domain settings from the parsed environment. */
export function settingsFrom(config: IdentityConfig): IdentitySettings {
  return {
    issuer: config.AUTH_ISSUER,
    edgeAudience: config.IDENTITY_EDGE_AUDIENCE,
    signingAlg: config.IDENTITY_SIGNING_ALG,
    keyEncryptionKey: Buffer.from(config.IDENTITY_KEY_ENCRYPTION_KEY, "base64"),
    keyReloadMs: config.IDENTITY_KEY_RELOAD_MS,
    accessTokenTtlMs: config.IDENTITY_ACCESS_TOKEN_TTL_MS,
    internalTokenTtlMs: config.IDENTITY_INTERNAL_TOKEN_TTL_MS,
    serviceTokenTtlMs: config.IDENTITY_SERVICE_TOKEN_TTL_MS,
    refreshTokenTtlMs: config.IDENTITY_REFRESH_TOKEN_TTL_MS,
    invitationTtlMs: config.IDENTITY_INVITATION_TTL_MS,
    scimRotationOverlapMs: config.IDENTITY_SCIM_ROTATION_OVERLAP_MS,
    argon2: {
      memoryCost: config.IDENTITY_ARGON2_MEMORY_KIB,
      timeCost: config.IDENTITY_ARGON2_TIME_COST,
      parallelism: config.IDENTITY_ARGON2_PARALLELISM,
    },
    lockout: {
      threshold: config.IDENTITY_LOCKOUT_THRESHOLD,
      baseMs: config.IDENTITY_LOCKOUT_BASE_MS,
      maxMs: config.IDENTITY_LOCKOUT_MAX_MS,
    },
    ipLimit: {
      maxFailuresPerMinute: config.IDENTITY_IP_MAX_FAILURES_PER_MINUTE,
      blockBaseMs: config.IDENTITY_IP_BLOCK_BASE_MS,
      blockMaxMs: config.IDENTITY_IP_BLOCK_MAX_MS,
    },
    mfa: {
      issuer: config.IDENTITY_MFA_ISSUER,
      challengeTtlMs: config.IDENTITY_MFA_CHALLENGE_TTL_MS,
      stepUpMaxAgeMs: config.IDENTITY_STEP_UP_MAX_AGE_MS,
    },
    webauthn: webauthnSettingsFrom(config),
    sso: ssoSettingsFrom(config),
  };
}
