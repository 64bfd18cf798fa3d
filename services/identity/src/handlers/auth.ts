import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type AuthService, type ClientInfo, TokenType } from "@tessera/proto/tessera/identity/v1/auth_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import { exchangeToken } from "../domain/exchange.ts";
import { login, logout, refresh } from "../domain/sessions.ts";
import { rotateSigningKey } from "../domain/signing.ts";
import { sessionToProto } from "./convert.ts";

const client = (c: ClientInfo | undefined) => ({ ip: c?.ip ?? "", userAgent: c?.userAgent ?? "" });

/** tessera.identity.v1.AuthService: Login, Refresh, Logout, ExchangeToken, RotateSigningKey. */
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
      const session = await login(deps, {
        email: req.email,
        password: req.password,
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
