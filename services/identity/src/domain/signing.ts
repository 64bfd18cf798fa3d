import { withTenantTransaction } from "@tessera/platform/db";
import { signingKeyRotated } from "../events/publish.ts";
import type { IdentityDeps } from "./deps.ts";
import type { Rotation } from "./keys.ts";
import { PLATFORM_TENANT_ID, permissions } from "./roles.ts";

/** Rotates the signing key (platform admins), reporting `signing_key.rotated` under the platform tenant. */
export async function rotateSigningKey(deps: IdentityDeps): Promise<Rotation> {
  permissions.requirePermission("identity.keys.rotate");
  return deps.keys.rotate({
    inTransaction: (fn) => withTenantTransaction(deps.orm, fn, { tenantId: PLATFORM_TENANT_ID }),
    onRotated: async (em, rotation) => {
      await signingKeyRotated(em, rotation.kid, rotation.previousKid);
    },
  });
}
