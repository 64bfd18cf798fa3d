import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ApiKeyService } from "@tessera/proto/tessera/identity/v1/api_keys_pb";
import { fromProtoRole } from "../convert.ts";
import { createApiKey, getApiKey, listApiKeys, revokeApiKey } from "../domain/api-keys.ts";
import type { IdentityDeps } from "../domain/deps.ts";
import { apiKeyToProto } from "./convert.ts";

/** tessera.identity.v1.ApiKeyService: the caller's tenant's API keys. */
export function apiKeyHandlers(deps: IdentityDeps): ServiceImpl<typeof ApiKeyService> {
  return {
    async createApiKey(req) {
      const { key, secret } = await createApiKey(deps, {
        displayName: req.displayName,
        role: fromProtoRole(req.role),
        scopes: req.scopes,
        expiresAt: req.expireTime && timestampDate(req.expireTime),
      });
      return { apiKey: apiKeyToProto(key), secret };
    },
    async getApiKey(req) {
      return { apiKey: apiKeyToProto(await getApiKey(deps, req.apiKeyId)) };
    },
    async listApiKeys(req) {
      const { keys, nextPageToken } = await listApiKeys(deps, req.page);
      return { apiKeys: keys.map(apiKeyToProto), page: { nextPageToken } };
    },
    async revokeApiKey(req) {
      return { apiKey: apiKeyToProto(await revokeApiKey(deps, req.apiKeyId)) };
    },
  };
}
