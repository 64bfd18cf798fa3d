import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type Factor,
  FactorSchema,
  FactorStatus,
  FactorType,
  type MfaChallenge,
  MfaChallengeKind,
  MfaChallengeSchema,
  type MfaPolicy,
  MfaPolicyMode,
  MfaPolicySchema,
  type MfaService,
  type TotpEnrollment,
  TotpEnrollmentSchema,
} from "@tessera/proto/tessera/identity/v1/mfa_pb";
import type { IdentityDeps } from "../domain/deps.ts";
import type { FactorRecord } from "../domain/mfa/factors.ts";
import type { LoginChallenge } from "../domain/mfa/login-gate.ts";
import { confirmTotp, enrollTotp, listFactors, regenerateRecoveryCodes, removeFactor } from "../domain/mfa/manage.ts";
import type { MfaPolicyMode as DomainMode, MfaPolicyRecord } from "../domain/mfa/policy.ts";
import { getMfaPolicy, setMfaPolicy } from "../domain/mfa/policy-admin.ts";
import type { TotpEnrollment as DomainEnrollment } from "../domain/mfa/verify.ts";

const ts = (d: Date | undefined) => (d ? timestampFromDate(d) : undefined);

const MODES: Record<DomainMode, MfaPolicyMode> = {
  off: MfaPolicyMode.OFF,
  admins: MfaPolicyMode.ADMINS,
  everyone: MfaPolicyMode.EVERYONE,
};
const FROM_MODE: Partial<Record<MfaPolicyMode, DomainMode>> = {
  [MfaPolicyMode.OFF]: "off",
  [MfaPolicyMode.ADMINS]: "admins",
  [MfaPolicyMode.EVERYONE]: "everyone",
};
const FACTOR_TYPES = {
  totp: FactorType.TOTP,
  webauthn: FactorType.WEBAUTHN,
  recovery_code: FactorType.RECOVERY_CODE,
} as const;

export function factorToProto(f: FactorRecord): Factor {
  return create(FactorSchema, {
    id: f.id,
    type: FACTOR_TYPES[f.type],
    status: f.status === "active" ? FactorStatus.ACTIVE : FactorStatus.PENDING,
    displayName: f.displayName,
    createTime: ts(f.createdAt),
    confirmTime: ts(f.confirmedAt),
    lastUseTime: ts(f.lastUsedAt),
  });
}

export function enrollmentToProto(e: DomainEnrollment): TotpEnrollment {
  return create(TotpEnrollmentSchema, {
    factor: factorToProto(e.factor),
    otpauthUri: e.uri,
    secret: e.secret,
    algorithm: e.params.algorithm,
    digits: e.params.digits,
    periodSeconds: e.params.period,
  });
}

export function challengeToProto(c: LoginChallenge): MfaChallenge {
  return create(MfaChallengeSchema, {
    challengeToken: c.token,
    expireTime: ts(c.expiresAt),
    kind: c.purpose === "verify" ? MfaChallengeKind.VERIFY : MfaChallengeKind.ENROLL,
    factors: c.factors.map((f) => FACTOR_TYPES[f]),
    webauthnOptionsJson: c.webauthnOptionsJson ?? "",
  });
}

function policyToProto(p: MfaPolicyRecord): MfaPolicy {
  return create(MfaPolicySchema, {
    tenantId: p.tenantId,
    mode: MODES[p.mode],
    gracePeriodDays: p.gracePeriodDays,
    requiredSince: ts(p.requiredSince),
    updateTime: ts(p.updatedAt),
    updatedBy: p.updatedBy,
  });
}

/** tessera.identity.v1.MfaService: the caller's factors and the tenant's MFA policy. */
export function mfaHandlers(deps: IdentityDeps): ServiceImpl<typeof MfaService> {
  return {
    async listFactors() {
      const { factors, recoveryCodesRemaining } = await listFactors(deps);
      return { factors: factors.map(factorToProto), recoveryCodesRemaining };
    },
    async enrollTotp(req) {
      return { enrollment: enrollmentToProto(await enrollTotp(deps, req.displayName)) };
    },
    async confirmTotp(req) {
      const { factor, recoveryCodes } = await confirmTotp(deps, req.factorId, req.code);
      return { factor: factorToProto(factor), recoveryCodes };
    },
    async removeFactor(req) {
      await removeFactor(deps, req.factorId);
      return {};
    },
    async regenerateRecoveryCodes() {
      return { recoveryCodes: await regenerateRecoveryCodes(deps) };
    },
    async getMfaPolicy(req) {
      return { policy: policyToProto(await getMfaPolicy(deps, req.tenantId)) };
    },
    async setMfaPolicy(req) {
      const mode = FROM_MODE[req.mode] ?? "off"; // protovalidate refuses UNSPECIFIED and unknown values
      return {
        policy: policyToProto(
          await setMfaPolicy(deps, { tenantId: req.tenantId, mode, gracePeriodDays: req.gracePeriodDays }),
        ),
      };
    },
  };
}
