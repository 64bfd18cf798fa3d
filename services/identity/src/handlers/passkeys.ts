import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Passkey, PasskeySchema, type PasskeyService } from "@tessera/proto/tessera/identity/v1/webauthn_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import type { PasskeyRecord } from "../domain/webauthn/credentials.ts";
import {
  finishRegistration,
  listPasskeys,
  removeOwnPasskey,
  renameOwnPasskey,
  startRegistration,
} from "../domain/webauthn/manage.ts";

export function passkeyToProto(p: PasskeyRecord): Passkey {
  return create(PasskeySchema, {
    id: p.id,
    displayName: p.displayName,
    credentialId: p.credentialId,
    transports: p.transports,
    aaguid: p.aaguid,
    backedUp: p.backedUp,
    createTime: timestampFromDate(p.createdAt),
    lastUseTime: p.lastUsedAt ? timestampFromDate(p.lastUsedAt) : undefined,
  });
}

/** tessera.identity.v1.PasskeyService: the caller's passkeys. */
export function passkeyHandlers(deps: IdentityDeps): ServiceImpl<typeof PasskeyService> {
  return {
    async startPasskeyRegistration() {
      const { optionsJson, expiresAt } = await startRegistration(deps);
      return { optionsJson, expireTime: timestampFromDate(expiresAt) };
    },
    async finishPasskeyRegistration(req) {
      const { passkey, recoveryCodes } = await finishRegistration(deps, {
        credentialJson: req.credentialJson,
        displayName: req.displayName,
      });
      return { passkey: passkeyToProto(passkey), recoveryCodes };
    },
    async listPasskeys() {
      return { passkeys: (await listPasskeys(deps)).map(passkeyToProto) };
    },
    async renamePasskey(req) {
      return { passkey: passkeyToProto(await renameOwnPasskey(deps, req.passkeyId, req.displayName)) };
    },
    async removePasskey(req) {
      await removeOwnPasskey(deps, req.passkeyId);
      return {};
    },
  };
}
