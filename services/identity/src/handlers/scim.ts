import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ScimService,
  type ScimSettings,
  ScimSettingsSchema,
  type ScimToken,
  ScimTokenSchema,
} from "@tessera/proto/tessera/identity/v1/scim_pb";
import { fromProtoRole, toProtoRole } from "../convert.ts";
import type { IdentityDeps } from "../domain/deps.ts";
import { getScimSettings, type ScimSettingsRecord, updateScimSettings } from "../domain/scim-settings.ts";
import {
  createScimToken,
  listScimTokens,
  revokeScimToken,
  rotateScimToken,
  type ScimTokenRecord,
} from "../domain/scim-tokens.ts";

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

function tokenToProto(t: ScimTokenRecord): ScimToken {
  return create(ScimTokenSchema, {
    id: t.id,
    tenantId: t.tenantId,
    prefix: t.prefix,
    createdBy: t.createdBy,
    createTime: ts(t.createdAt),
    expireTime: ts(t.expiresAt),
    revokeTime: ts(t.revokedAt),
    lastUsedTime: ts(t.lastUsedAt),
    replacesTokenId: t.replacesId ?? "",
  });
}

function settingsToProto(s: ScimSettingsRecord): ScimSettings {
  return create(ScimSettingsSchema, {
    tenantId: s.tenantId,
    groupRoles: s.groupRoles.map((m) => ({ group: m.group, role: toProtoRole(m.role) })),
    updateTime: ts(s.updatedAt),
  });
}

/** tessera.identity.v1.ScimService: a tenant's SCIM token and group → role mapping. */
export function scimHandlers(deps: IdentityDeps): ServiceImpl<typeof ScimService> {
  return {
    async createScimToken(req) {
      const { token, secret } = await createScimToken(deps, req.tenantId);
      return { token: tokenToProto(token), secret };
    },
    async rotateScimToken(req) {
      const { token, secret, previous } = await rotateScimToken(deps, req.tenantId, req.overlapSeconds * 1000);
      return { token: tokenToProto(token), secret, previous: tokenToProto(previous) };
    },
    async revokeScimToken(req) {
      return { token: tokenToProto(await revokeScimToken(deps, req.tenantId, req.tokenId)) };
    },
    async listScimTokens(req) {
      return { tokens: (await listScimTokens(deps, req.tenantId)).map(tokenToProto) };
    },
    async getScimSettings(req) {
      return { settings: settingsToProto(await getScimSettings(deps, req.tenantId)) };
    },
    async updateScimSettings(req) {
      const mapping = req.groupRoles.map((m) => ({ group: m.group, role: fromProtoRole(m.role) }));
      return { settings: settingsToProto(await updateScimSettings(deps, req.tenantId, mapping)) };
    },
  };
}
