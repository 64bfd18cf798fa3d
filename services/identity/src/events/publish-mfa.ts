import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import {
  FactorType,
  MfaEventSchema,
  MfaPolicyEventSchema,
  MfaPolicyMode,
} from "@tessera/proto/tessera/identity/v1/mfa_pb";
import type { ClientSeen } from "./publish.ts";

/**
 * identity's MFA events, enqueued in the transaction of the change they report, under that
 * transaction's tenant (the tenant the user acts in; the platform tenant for platform sessions).
 * Payloads never carry a secret, a code or a recovery code.
 */

/** What an MFA event says beyond its type. */
export interface MfaEventFields {
  userId: string;
  factorId?: string;
  factorType?: "totp" | "recovery_code" | "webauthn";
  failedAttempts?: number;
  recoveryCodesRemaining?: number;
  client?: ClientSeen;
  /** Why a passkey assertion was refused (a short code, never the response). */
  failureReason?: string;
}

/** The MFA event types (subjects `tessera.evt.<tenant>.mfa.<verb>`). */
export type MfaVerb =
  | "totp_enrolled"
  | "totp_confirmed"
  | "factor_removed"
  | "recovery_codes_regenerated"
  | "recovery_code_used"
  | "verification_failed"
  | "passkey_registered"
  | "passkey_renamed"
  | "passkey_assertion_failed";

type PolicyMode = "off" | "admins" | "everyone";

const MODES: Record<PolicyMode, MfaPolicyMode> = {
  off: MfaPolicyMode.OFF,
  admins: MfaPolicyMode.ADMINS,
  everyone: MfaPolicyMode.EVERYONE,
};

const FACTOR_TYPES = {
  totp: FactorType.TOTP,
  recovery_code: FactorType.RECOVERY_CODE,
  webauthn: FactorType.WEBAUTHN,
} as const;

const FAILURES: ReadonlySet<MfaVerb> = new Set(["verification_failed", "passkey_assertion_failed"]);

/** `mfa.<verb>`, with the user as actor (and aggregate); without a user (an unknown passkey), the client address is the aggregate. */
export function mfaEvent(em: TxEntityManager, verb: MfaVerb, fields: MfaEventFields) {
  const { client } = fields;
  return enqueueEvent(em, {
    type: `mfa.${verb}`,
    aggregateId: fields.userId || client?.ip || "unknown",
    ...(fields.userId && { actor: { kind: "user" as const, id: fields.userId } }),
    outcome: FAILURES.has(verb) ? "failure" : "success",
    ...(client && { origin: { clientIp: client.ip, userAgent: client.userAgent } }),
    schema: MfaEventSchema,
    payload: create(MfaEventSchema, {
      userId: fields.userId,
      factorId: fields.factorId ?? "",
      factorType: fields.factorType ? FACTOR_TYPES[fields.factorType] : FactorType.UNSPECIFIED,
      clientIp: client?.ip ?? "",
      userAgent: client?.userAgent ?? "",
      failedAttempts: fields.failedAttempts ?? 0,
      recoveryCodesRemaining: fields.recoveryCodesRemaining ?? 0,
      failureReason: fields.failureReason ?? "",
    }),
  });
}

/** `mfa_policy.changed` (the tenant's), by whoever set it. */
export function mfaPolicyChanged(
  em: TxEntityManager,
  tenantId: string,
  change: { mode: PolicyMode; previousMode: PolicyMode; gracePeriodDays: number },
) {
  return enqueueEvent(em, {
    type: "mfa_policy.changed",
    aggregateId: tenantId,
    schema: MfaPolicyEventSchema,
    payload: create(MfaPolicyEventSchema, {
      mode: MODES[change.mode],
      previousMode: MODES[change.previousMode],
      gracePeriodDays: change.gracePeriodDays,
    }),
  });
}
