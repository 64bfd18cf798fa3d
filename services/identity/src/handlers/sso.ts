import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ClientInfo } from "@tessera/proto/tessera/identity/v1/auth_pb";
import { Role } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { type SsoConnection, SsoConnectionSchema, type SsoService } from "@tessera/proto/tessera/identity/v1/sso_pb";
import { fromProtoRole, toProtoRole } from "../convert.ts";
import type { IdentityDeps } from "../domain/deps.ts";
import {
  deleteSsoConnection,
  getSsoConnection,
  type SsoConnectionRecord,
  setSsoConnection,
  testSsoConnection,
} from "../domain/sso/connections.ts";
import { redeemSsoLogin } from "../domain/sso/redeem.ts";
import { redirectUri } from "../domain/sso/start.ts";
import { sessionToProto } from "./convert.ts";
import { challengeToProto } from "./mfa.ts";

function connectionToProto(deps: IdentityDeps, c: SsoConnectionRecord): SsoConnection {
  return create(SsoConnectionSchema, {
    tenantId: c.tenantId,
    issuer: c.issuer,
    clientId: c.clientId,
    // a connection cannot be stored without a secret
    clientSecretSet: true,
    clientSecretLast4: c.clientSecretLast4,
    scopes: c.scopes,
    emailClaim: c.emailClaim,
    nameClaim: c.nameClaim,
    groupsClaim: c.groupsClaim,
    roleMappings: c.roleMappings.map((m) => ({ value: m.value, role: toProtoRole(m.role) })),
    defaultRole: toProtoRole(c.defaultRole),
    syncRoles: c.syncRoles,
    trustIdpMfa: c.trustIdpMfa,
    enabled: c.enabled,
    ssoRequired: c.ssoRequired,
    breakGlassUserIds: c.breakGlassUserIds,
    redirectUri: redirectUri(deps),
    updateTime: timestampFromDate(c.updatedAt),
    updatedBy: c.updatedBy,
  });
}

const client = (c: ClientInfo | undefined) => ({ ip: c?.ip ?? "", userAgent: c?.userAgent ?? "" });

/** tessera.identity.v1.SsoService: a tenant's OIDC connection, and redeeming SSO login codes (edges). */
export function ssoHandlers(deps: IdentityDeps): ServiceImpl<typeof SsoService> {
  return {
    async getSsoConnection(req) {
      return { connection: connectionToProto(deps, await getSsoConnection(deps, req.tenantId)) };
    },
    async setSsoConnection(req) {
      const saved = await setSsoConnection(deps, req.tenantId, {
        issuer: req.issuer,
        clientId: req.clientId,
        clientSecret: req.clientSecret,
        scopes: req.scopes,
        emailClaim: req.emailClaim,
        nameClaim: req.nameClaim,
        groupsClaim: req.groupsClaim,
        roleMappings: req.roleMappings.map((m) => ({ value: m.value, role: fromProtoRole(m.role) })),
        defaultRole: req.defaultRole === Role.UNSPECIFIED ? undefined : fromProtoRole(req.defaultRole),
        syncRoles: req.syncRoles,
        trustIdpMfa: req.trustIdpMfa,
        enabled: req.enabled,
        ssoRequired: req.ssoRequired,
        breakGlassUserIds: req.breakGlassUserIds,
      });
      return { connection: connectionToProto(deps, saved) };
    },
    async deleteSsoConnection(req) {
      await deleteSsoConnection(deps, req.tenantId);
      return {};
    },
    async testSsoConnection(req) {
      const result = await testSsoConnection(deps, req.tenantId);
      if (!result.ok) return { ok: false, error: result.error };
      return {
        ok: true,
        authorizationEndpoint: result.endpoints.authorizationEndpoint,
        tokenEndpoint: result.endpoints.tokenEndpoint,
        jwksUri: result.endpoints.jwksUri,
      };
    },
    async redeemSsoLogin(req) {
      const outcome = await redeemSsoLogin(deps, req.code, client(req.client));
      if (outcome.kind === "challenge") return { mfaChallenge: challengeToProto(outcome.challenge) };
      return {
        tokens: sessionToProto(outcome.session),
        ...(outcome.mustEnrollBy && { mustEnrollBy: timestampFromDate(outcome.mustEnrollBy) }),
      };
    },
  };
}
