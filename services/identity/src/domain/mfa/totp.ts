import { Secret, TOTP } from "otpauth";

/** HMAC algorithms of RFC 6238. */
export type TotpAlgorithm = "SHA1" | "SHA256" | "SHA512";

/** How codes are computed from a secret. */
export interface TotpParams {
  readonly algorithm: TotpAlgorithm;
  readonly digits: number;
  /** Seconds per time step. */
  readonly period: number;
}

/**
 * What identity enrols: SHA1, 6 digits, 30 s — the parameters every authenticator app honours
 * (several ignore the URI's algorithm and would compute SHA1 codes regardless).
 */
export const TOTP_DEFAULTS: TotpParams = { algorithm: "SHA1", digits: 6, period: 30 };

/** Codes of the neighbouring time steps are accepted too (clock skew of one step either way). */
export const SKEW_STEPS = 1;

/** 160 random bits (RFC 4226's recommended secret length). */
export function newTotpSecret(): Uint8Array {
  return new Uint8Array(new Secret({ size: 20 }).bytes);
}

/** A secret as authenticator apps take it for manual entry (RFC 4648 base32, no padding). */
export function base32Of(secret: Uint8Array): string {
  return new Secret({ buffer: Uint8Array.from(secret).buffer }).base32;
}

function totp(secret: Uint8Array, params: TotpParams, issuer = "", label = "") {
  return new TOTP({
    issuer,
    label,
    issuerInLabel: issuer !== "",
    secret: new Secret({ buffer: Uint8Array.from(secret).buffer }),
    algorithm: params.algorithm,
    digits: params.digits,
    period: params.period,
  });
}

/** The `otpauth://totp/<issuer>:<account>?secret=…` URI an authenticator app scans as a QR code. */
export function totpUri(secret: Uint8Array, params: TotpParams, issuer: string, account: string): string {
  return totp(secret, params, issuer, account).toString();
}

/** The time step of an instant: whole periods since the epoch. */
export function totpStep(atMs: number, params: TotpParams): number {
  return Math.floor(atMs / 1000 / params.period);
}

/** The code of the time step containing `atMs`. */
export function totpCode(secret: Uint8Array, params: TotpParams, atMs: number): string {
  return totp(secret, params).generate({ timestamp: atMs });
}

/**
 * The time step a code belongs to, searching the step of `nowMs` and `window` steps either side
 * (otpauth compares in constant time); undefined when it matches none. Callers refuse a step
 * already used (replay).
 */
export function matchTotp(
  secret: Uint8Array,
  code: string,
  params: TotpParams,
  nowMs: number,
  window = SKEW_STEPS,
): number | undefined {
  if (code.length !== params.digits || !/^[0-9]+$/.test(code)) return undefined;
  const delta = totp(secret, params).validate({ token: code, timestamp: nowMs, window });
  return delta === null ? undefined : totpStep(nowMs, params) + delta;
}
