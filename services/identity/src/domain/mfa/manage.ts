import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, InvalidArgument, NotFound, PermissionDenied } from "@tessera/platform/errors";
import { mfaEvent } from "../../events/publish-mfa.ts";
import type { IdentityDeps } from "../deps.ts";
import { caller, PLATFORM_TENANT_ID } from "../roles.ts";
import { type UserRecord, userById } from "../users.ts";
import { activeFactorKinds, deleteFactor, type FactorRecord, factorsOf, pendingFactor, useTotp } from "./factors.ts";
import { deleteRecoveryCodes, recoveryCodesRemaining, replaceRecoveryCodes } from "./recovery.ts";
import { mfaApplies, requireStepUp } from "./step-up.ts";
import { pendingTotp, type TotpEnrollment } from "./verify.ts";

/** The calling user, the tenant they act in and their principal. */
export interface Self {
  user: UserRecord;
  tenantId: string | undefined;
  principal: ReturnType<typeof caller>["principal"];
}

/**
 * Runs `fn` for the calling user (a user token: API keys and services have no factors) in a
 * transaction of the tenant they act in (the platform tenant for platform sessions), so events
 * land in that tenant's audit log. With `stepUp`, a caller who already has an active factor
 * must have used one recently (see requireStepUp).
 */
export async function asSelf<T>(
  deps: IdentityDeps,
  stepUp: boolean,
  fn: (em: TxEntityManager, self: Self) => Promise<T>,
): Promise<T> {
  const { principal, tenantId } = caller();
  if (principal.kind !== "user") throw new PermissionDenied("only users have second factors");
  const tid = tenantId?.toLowerCase();
  return withTenantTransaction(
    deps.orm,
    async (em) => {
      const user = await userById(em, principal.subject);
      if (!user || user.disabled) throw new PermissionDenied("unknown user");
      if (stepUp && (await activeFactorKinds(em, user.id)).length > 0) {
        await requireStepUp(deps, em, principal, tid);
      }
      return fn(em, { user, tenantId: tid, principal });
    },
    { tenantId: tid ?? PLATFORM_TENANT_ID },
  );
}

/** The caller's factors and the number of unused recovery codes. */
export function listFactors(deps: IdentityDeps): Promise<{ factors: FactorRecord[]; recoveryCodesRemaining: number }> {
  return asSelf(deps, false, async (em, { user }) => ({
    factors: await factorsOf(em, user.id),
    recoveryCodesRemaining: await recoveryCodesRemaining(em, user.id),
  }));
}

/** Starts enrolling a TOTP factor (pending until confirmed). */
export function enrollTotp(deps: IdentityDeps, displayName: string): Promise<TotpEnrollment> {
  return asSelf(deps, true, (em, { user }) => pendingTotp(deps, em, user, displayName));
}

/** Confirms a pending TOTP factor with a current code; the first factor also gets the recovery codes. */
export async function confirmTotp(
  deps: IdentityDeps,
  factorId: string,
  code: string,
): Promise<{ factor: FactorRecord; recoveryCodes: string[] }> {
  const result = await asSelf(deps, true, async (em, { user }) => {
    if (!(await pendingFactor(em, user.id, factorId))) throw new NotFound("no pending factor with that id");
    const first = (await activeFactorKinds(em, user.id)).length === 0;
    const factor = await useTotp(em, deps.settings.keyEncryptionKey, user.id, code, { pendingId: factorId });
    if (!factor) return undefined;
    const recoveryCodes = first ? await replaceRecoveryCodes(em, user.id) : [];
    await mfaEvent(em, "totp_confirmed", {
      userId: user.id,
      factorId: factor.id,
      factorType: "totp",
      recoveryCodesRemaining: await recoveryCodesRemaining(em, user.id),
    });
    return { factor, recoveryCodes };
  });
  if (!result) {
    throw new InvalidArgument("the code does not match: check the authenticator's clock and try the current code", [
      { field: "code", message: "does not match" },
    ]);
  }
  return result;
}

/**
 * Removes one of the caller's factors; with the last active one go the recovery codes. Refused
 * while the tenant's policy requires MFA of the caller (they would be locked out at next login).
 */
export function removeFactor(deps: IdentityDeps, factorId: string): Promise<void> {
  return asSelf(deps, true, async (em, { user, tenantId }) => {
    const removed = await deleteFactor(em, user.id, factorId);
    if (!removed) throw new NotFound("factor not found");
    if ((await activeFactorKinds(em, user.id)).length === 0 && removed.status === "active") {
      if (await mfaApplies(em, user.id, tenantId)) {
        throw new FailedPrecondition("your tenant requires a second factor: add another one before removing this one");
      }
      await deleteRecoveryCodes(em, user.id);
    }
    await mfaEvent(em, "factor_removed", {
      userId: user.id,
      factorId: removed.id,
      factorType: removed.type,
      recoveryCodesRemaining: await recoveryCodesRemaining(em, user.id),
    });
  });
}

/** Replaces the caller's recovery codes with ten new ones (needs an active factor). */
export function regenerateRecoveryCodes(deps: IdentityDeps): Promise<string[]> {
  return asSelf(deps, true, async (em, { user }) => {
    if ((await activeFactorKinds(em, user.id)).length === 0) {
      throw new FailedPrecondition("recovery codes need an active second factor: enrol one first");
    }
    const codes = await replaceRecoveryCodes(em, user.id);
    await mfaEvent(em, "recovery_codes_regenerated", {
      userId: user.id,
      factorType: "recovery_code",
      recoveryCodesRemaining: codes.length,
    });
    return codes;
  });
}
