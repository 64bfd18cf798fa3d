import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type { ServiceCredentialService } from "@tessera/proto/tessera/identity/v1/auth_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import { issueServiceToken } from "../domain/service-clients.ts";

/** tessera.identity.v1.ServiceCredentialService: IssueServiceToken (open without a token). */
export function serviceCredentialHandlers(deps: IdentityDeps): ServiceImpl<typeof ServiceCredentialService> {
  return {
    async issueServiceToken(req) {
      const issued = await issueServiceToken(deps, {
        clientId: req.clientId,
        clientSecret: req.clientSecret,
        audience: req.audience,
      });
      return { accessToken: issued.token, expireTime: timestampFromDate(issued.expiresAt) };
    },
  };
}
