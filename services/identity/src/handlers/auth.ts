import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AuthService, type ClientInfo, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import { exchangeToken } from "../domain/exchange.ts";
import { completeEnrollment, startEnrollment, verifyMfa } from "../domain/mfa/verify.ts";
import { login, logout, refresh } from "../domain/sessions.ts";
import { rotateSigningKey } from "../domain/signing.ts";
import { finishPasskeyLogin, startPasskeyLogin } from "../domain/webauthn/passwordless.ts";
import { verifyMfaWithPasskey } from "../domain/webauthn/second-factor.ts";
import { sessionToProto } from "./convert.ts";
import { challengeToProto, enrollmentToProto } from "./mfa.ts";

const client = (c: ClientInfo | undefined) => ({ ip: c?.ip ?? "", userAgent: c?.userAgent ?? "" });

/**
 * tessera.identity.v1.AuthService: Login (and its MFA steps VerifyMfa, StartMfaEnrollment,
 * CompleteMfaEnrollment), Refresh, Logout, ExchangeToken, RotateSigningKey.
 */
export function authHandlers(
  deps: IdentityDeps,
  allowedAudiences: (clientId: string) => Promise<readonly string[]>,
): ServiceImpl<typeof AuthService> {
  return {
    async login(req) {
      const tenant =
        req.tenant.case === "tenantId"
          ? { id: req.tenant.value }
          : req.tenant.case === "tenantSlug"
            ? { slug: req.tenant.value }
            : undefined;
      const outcome = await login(deps, {
        email: req.email,
        password: req.password,
        tenant,
        client: client(req.client),
      });
      if (outcome.kind === "challenge") return { mfaChallenge: challengeToProto(outcome.challenge) };
      return {
        tokens: sessionToProto(outcome.session),
        ...(outcome.mustEnrollBy && { mustEnrollBy: timestampFromDate(outcome.mustEnrollBy) }),
      };
    },
    async verifyMfa(req) {
      if (req.code.case === "webauthnAssertionJson") {
        const session = await verifyMfaWithPasskey(deps, {
          challengeToken: req.challengeToken,
          assertionJson: req.code.value,
          client: client(req.client),
        });
        return { tokens: sessionToProto(session) };
      }
      const code =
        req.code.case === "totpCode"
          ? { kind: "totp" as const, value: req.code.value }
          : { kind: "recovery_code" as const, value: req.code.value ?? "" };
      const session = await verifyMfa(deps, { challengeToken: req.challengeToken, code, client: client(req.client) });
      return { tokens: sessionToProto(session) };
    },
    async startMfaEnrollment(req) {
      const enrollment = await startEnrollment(deps, {
        challengeToken: req.challengeToken,
        displayName: req.displayName,
      });
      return { enrollment: enrollmentToProto(enrollment) };
    },
    async completeMfaEnrollment(req) {
      const { session, recoveryCodes } = await completeEnrollment(deps, {
        challengeToken: req.challengeToken,
        factorId: req.factorId,
        code: req.code,
        client: client(req.client),
      });
      return { tokens: sessionToProto(session), recoveryCodes };
    },
    async startPasskeyLogin(req) {
      const { optionsJson, expiresAt } = await startPasskeyLogin(deps, client(req.client));
      return { optionsJson, expireTime: timestampFromDate(expiresAt) };
    },
    async finishPasskeyLogin(req) {
      const tenant =
        req.tenant.case === "tenantId"
          ? { id: req.tenant.value }
          : req.tenant.case === "tenantSlug"
            ? { slug: req.tenant.value }
            : undefined;
      const session = await finishPasskeyLogin(deps, {
        credentialJson: req.credentialJson,
        tenant,
        client: client(req.client),
      });
      return { tokens: sessionToProto(session) };
    },
    async refresh(req) {
      return { tokens: sessionToProto(await refresh(deps, req.refreshToken, client(req.client))) };
    },
    async logout(req) {
      await logout(deps, req.refreshToken);
      return {};
    },
    async exchangeToken(req) {
      const issued = await exchangeToken(
        deps,
        {
          subjectToken: req.subjectToken,
          subjectType: req.subjectTokenType === TokenType.API_KEY ? "api_key" : "access_token",
          audience: req.audience,
        },
        allowedAudiences,
      );
      return { accessToken: issued.token, expireTime: timestampFromDate(issued.expiresAt) };
    },
    async rotateSigningKey() {
      return rotateSigningKey(deps);
    },
  };
}
