import { Code, ConnectError } from "@connectrpc/connect";
import { createLocalVerifier } from "@tessera/platform/auth";
import { ErrorInfoSchema } from "@tessera/proto/google/rpc/error_details_pb";
import type { LoginResponse, Tokens } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { MfaService } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { registerSecret } from "@tessera/test/harness";
import { decodeJwt } from "jose";
import { Secret } from "otpauth";
import pg from "pg";
import { expect } from "vitest";
import { TOTP_DEFAULTS, totpCode } from "../src/domain/mfa/totp.ts";
import { CLIENT, type Identity, TokenType } from "./support.ts";

/** Codes of a base32 secret, `steps` periods from now. */
export function codeFor(secret: string, steps = 0): string {
  return totpCode(Secret.fromBase32(secret).bytes, TOTP_DEFAULTS, Date.now() + steps * 30_000);
}

/** Waits while the current 30 s step has under 3 s left, so a test's codes stay in the steps it means. */
export async function awayFromStepEdge(): Promise<void> {
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 3_000) await new Promise((r) => setTimeout(r, left + 100));
}

/** Login as the edge; the whole answer (tokens or an MFA challenge). */
export async function loginAs(
  id: Identity,
  email: string,
  password: string,
  tenantId?: string,
): Promise<LoginResponse> {
  return (await id.auth()).login({
    email,
    password,
    client: CLIENT,
    ...(tenantId && { tenant: { case: "tenantId" as const, value: tenantId } }),
  });
}

/** An edge access token → an internal token addressed to identity. */
export async function internalToken(id: Identity, tokens: Tokens | undefined): Promise<string> {
  const exchanged = await (await id.auth()).exchangeToken({
    subjectToken: tokens?.accessToken ?? "",
    subjectTokenType: TokenType.ACCESS_TOKEN,
    audience: "identity",
  });
  return exchanged.accessToken;
}

/** Enrols and confirms TOTP with `token` (one step back, so the current and next steps stay free). */
export async function enrollTotp(id: Identity, token: string) {
  await awayFromStepEdge();
  const mfa = id.client(MfaService, token);
  const { enrollment } = await mfa.enrollTotp({ displayName: "phone" });
  const secret = registerSecret(enrollment?.secret ?? "");
  const confirmed = await mfa.confirmTotp({ factorId: enrollment?.factor?.id ?? "", code: codeFor(secret, -1) });
  for (const c of confirmed.recoveryCodes) registerSecret(c);
  return { secret, factorId: enrollment?.factor?.id ?? "", recoveryCodes: confirmed.recoveryCodes, enrollment };
}

/** The claims of an access token identity signed (verified against its keys). */
export async function claimsOf(id: Identity, token: string, audience = "tessera-edge") {
  await createLocalVerifier({
    keys: id.built.deps.keys.getKey,
    issuer: id.built.deps.settings.issuer,
    audience,
  }).verify(token);
  return decodeJwt(token);
}

/** The ErrorInfo reason of a failed call ("" when it has none). */
export function reasonOf(err: ConnectError): string {
  return err.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
}

/** Asserts a refusal is an expected one (never INTERNAL or UNKNOWN) with the given code. */
export async function refusedWith(call: Promise<unknown>, code: Code): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    expect(Code[e.code]).toBe(Code[code]);
    return e;
  }
  expect.fail("the call succeeded");
}

/** Runs SQL as the database owner (to age a challenge or a session in a test). */
export async function ownerSql<T>(id: Identity, text: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: id.db.ownerUrl });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as T[];
  } finally {
    await client.end();
  }
}
