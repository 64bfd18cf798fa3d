import {
  type Factor,
  FactorStatus,
  type MfaPolicy,
  MfaPolicyMode,
  type TotpEnrollment,
} from "@tessera/proto/tessera/identity/v1/mfa_pb";
import { builder } from "../builder.ts";
import {
  ConflictError,
  InputError,
  NotFoundError,
  RateLimitedError,
  StepUpRequiredError,
  UnauthenticatedError,
} from "../errors/gateway-errors.ts";
import { parseGlobalId } from "../global-id.ts";
import { AuthTokensRef, tokensOf } from "./auth.ts";
import { DateTime, definedEnum, ErrorInterface, FACTOR_ERRORS, required, resultTypes, toDate } from "./common.ts";
import { FACTOR_TYPES, MfaFactorTypeEnum } from "./mfa-challenge.ts";
import { TenantRef } from "./tenant.ts";
import { ViewerRef } from "./viewer.ts";

const STATUSES = { PENDING: FactorStatus.PENDING, ACTIVE: FactorStatus.ACTIVE };
const MODES = { OFF: MfaPolicyMode.OFF, ADMINS: MfaPolicyMode.ADMINS, EVERYONE: MfaPolicyMode.EVERYONE };

builder.objectType(StepUpRequiredError, {
  name: "StepUpRequiredError",
  description:
    "A sensitive operation needs a recent sign-in with a second factor: sign in again (`login` + `verifyMfa`) and retry.",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof StepUpRequiredError,
});

const MfaFactorStatusEnum = builder.enumType("MfaFactorStatus", {
  values: {
    PENDING: { value: STATUSES.PENDING, description: "Enrolled, not yet confirmed with a code: not usable." },
    ACTIVE: { value: STATUSES.ACTIVE },
  },
});

const MfaPolicyModeEnum = builder.enumType("MfaPolicyMode", {
  values: {
    OFF: { value: MODES.OFF, description: "Nobody is required (users who enrolled a factor still use it)." },
    ADMINS: { value: MODES.ADMINS, description: "Owners and admins must use a second factor." },
    EVERYONE: { value: MODES.EVERYONE, description: "Every member must use a second factor." },
  },
});

const MfaFactorRef = builder.objectRef<Factor>("MfaFactor").implement({
  description: "One of the viewer's second factors (never its secret).",
  fields: (t) => ({
    id: t.exposeID("id"),
    type: t.field({ type: MfaFactorTypeEnum, resolve: (f) => definedEnum(f.type, FACTOR_TYPES) }),
    status: t.field({ type: MfaFactorStatusEnum, resolve: (f) => definedEnum(f.status, STATUSES) }),
    displayName: t.exposeString("displayName"),
    createdAt: t.field({ type: DateTime, resolve: (f) => toDate(f.createTime) }),
    confirmedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (f) => (f.confirmTime ? toDate(f.confirmTime) : null),
    }),
    lastUsedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (f) => (f.lastUseTime ? toDate(f.lastUseTime) : null),
    }),
  }),
});

const TotpEnrollmentRef = builder.objectRef<TotpEnrollment>("TotpEnrollment").implement({
  description: "What an authenticator app needs: render `otpauthUri` as a QR code, or show `secret` for manual entry.",
  fields: (t) => ({
    factor: t.field({ type: MfaFactorRef, resolve: (e) => required(e.factor, "factor") }),
    otpauthUri: t.exposeString("otpauthUri"),
    secret: t.exposeString("secret", { description: "Base32; shown only here." }),
    algorithm: t.exposeString("algorithm"),
    digits: t.exposeInt("digits"),
    periodSeconds: t.exposeInt("periodSeconds"),
  }),
});

const MfaPolicyRef = builder.objectRef<MfaPolicy>("MfaPolicy").implement({
  description: "Whom the tenant requires to use a second factor.",
  fields: (t) => ({
    mode: t.field({ type: MfaPolicyModeEnum, resolve: (p) => definedEnum(p.mode, MODES) }),
    gracePeriodDays: t.exposeInt("gracePeriodDays", {
      description: "Days a required user may still sign in without a factor (from `requiredSince` or joining).",
    }),
    requiredSince: t.field({
      type: DateTime,
      nullable: true,
      resolve: (p) => (p.requiredSince ? toDate(p.requiredSince) : null),
    }),
    updatedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (p) => (p.updateTime ? toDate(p.updateTime) : null),
    }),
  }),
});

builder.objectFields(ViewerRef, (t) => ({
  factors: t.field({
    type: [MfaFactorRef],
    description: "The viewer's second factors.",
    resolve: async (_v, _a, ctx) => (await ctx.rpc.mfa.listFactors({})).factors,
  }),
  recoveryCodesRemaining: t.int({
    description: "Unused recovery codes.",
    resolve: async (_v, _a, ctx) => (await ctx.rpc.mfa.listFactors({})).recoveryCodesRemaining,
  }),
}));

builder.objectField(TenantRef, "mfaPolicy", (t) =>
  t.field({
    type: MfaPolicyRef,
    description: "The tenant's MFA policy (owners and admins).",
    resolve: async (_tenant, _a, ctx) => required((await ctx.rpc.mfa.getMfaPolicy({})).policy, "a policy"),
  }),
);

const CHALLENGE_ERRORS = [InputError, UnauthenticatedError, ConflictError, NotFoundError, RateLimitedError];

const VerifyMfaInput = builder.inputType("VerifyMfaInput", {
  fields: (t) => ({
    challengeToken: t.string({ required: true }),
    totpCode: t.string({ required: false, description: "The six digits the authenticator shows (or recoveryCode)." }),
    recoveryCode: t.string({ required: false, description: "One of the recovery codes (or totpCode)." }),
    webauthnAssertion: t.string({
      required: false,
      description:
        "A passkey's assertion for `MfaChallenge.webauthnOptionsJson`: the JSON of `PublicKeyCredential.toJSON()` (or totpCode, or recoveryCode).",
    }),
  }),
});

const EnrollTotpInput = builder.inputType("EnrollTotpInput", {
  fields: (t) => ({ displayName: t.string({ required: false }) }),
});

const ConfirmTotpInput = builder.inputType("ConfirmTotpInput", {
  fields: (t) => ({ factorId: t.id({ required: true }), code: t.string({ required: true }) }),
});

const StartMfaEnrollmentInput = builder.inputType("StartMfaEnrollmentInput", {
  fields: (t) => ({
    challengeToken: t.string({ required: true, description: "The ENROLL challenge `login` answered." }),
    displayName: t.string({ required: false }),
  }),
});

const CompleteMfaEnrollmentInput = builder.inputType("CompleteMfaEnrollmentInput", {
  fields: (t) => ({
    challengeToken: t.string({ required: true }),
    factorId: t.id({ required: true }),
    code: t.string({ required: true, description: "The six digits the new authenticator shows." }),
  }),
});

const SetMfaPolicyInput = builder.inputType("SetMfaPolicyInput", {
  fields: (t) => ({
    mode: t.field({ type: MfaPolicyModeEnum, required: true }),
    gracePeriodDays: t.int({ required: true, description: "0–90." }),
    tenantId: t.id({ required: false, description: "Platform admins: the tenant (a Tenant id)." }),
  }),
});

const RECOVERY_CODES = "Ten single-use codes when this is the first factor (else empty). Shown only here.";

const ConfirmTotpPayload = builder
  .objectRef<{ factor: Factor; recoveryCodes: string[] }>("ConfirmTotpPayload")
  .implement({
    fields: (t) => ({
      factor: t.field({ type: MfaFactorRef, resolve: (p) => p.factor }),
      recoveryCodes: t.exposeStringList("recoveryCodes", { description: RECOVERY_CODES }),
    }),
  });

const CompleteMfaEnrollmentPayload = builder
  .objectRef<{ tokens: ReturnType<typeof tokensOf>; recoveryCodes: string[] }>("CompleteMfaEnrollmentPayload")
  .implement({
    fields: (t) => ({
      tokens: t.field({
        type: AuthTokensRef,
        description: "The session the login completes with.",
        resolve: (p) => p.tokens,
      }),
      recoveryCodes: t.exposeStringList("recoveryCodes", { description: RECOVERY_CODES }),
    }),
  });

builder.mutationFields((t) => ({
  verifyMfa: t.field({
    type: AuthTokensRef,
    description:
      "Answers a login's VERIFY challenge with a TOTP code, a passkey assertion or a recovery code. Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: VerifyMfaInput, required: true }) },
    errors: resultTypes("VerifyMfa", "tokens", CHALLENGE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const given = [
        input.totpCode != null && { case: "totpCode" as const, value: input.totpCode },
        input.recoveryCode != null && { case: "recoveryCode" as const, value: input.recoveryCode },
        input.webauthnAssertion != null && { case: "webauthnAssertionJson" as const, value: input.webauthnAssertion },
      ].filter((c) => c !== false);
      const [code, ...more] = given;
      if (!code || more.length > 0) {
        throw new InputError("Give one of totpCode, recoveryCode and webauthnAssertion.", [
          { field: "totpCode", message: "exactly one of totpCode, recoveryCode and webauthnAssertion" },
        ]);
      }
      const res = await ctx.rpc.auth.verifyMfa({ challengeToken: input.challengeToken, code, client: ctx.clientInfo });
      return tokensOf(res);
    },
  }),
  startMfaEnrollment: t.field({
    type: TotpEnrollmentRef,
    description: "During login, with an ENROLL challenge: starts enrolling an authenticator app. Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: StartMfaEnrollmentInput, required: true }) },
    errors: resultTypes("StartMfaEnrollment", "enrollment", CHALLENGE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.auth.startMfaEnrollment({
        challengeToken: input.challengeToken,
        displayName: input.displayName ?? "",
      });
      return required(res.enrollment, "an enrollment");
    },
  }),
  completeMfaEnrollment: t.field({
    type: CompleteMfaEnrollmentPayload,
    description:
      "During login: confirms the new authenticator with a code and completes the login. Needs no credential.",
    skipTypeScopes: true,
    args: { input: t.arg({ type: CompleteMfaEnrollmentInput, required: true }) },
    errors: resultTypes("CompleteMfaEnrollment", "result", CHALLENGE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.auth.completeMfaEnrollment({
        challengeToken: input.challengeToken,
        factorId: String(input.factorId),
        code: input.code,
        client: ctx.clientInfo,
      });
      return { tokens: tokensOf(res), recoveryCodes: res.recoveryCodes };
    },
  }),
  enrollTotp: t.field({
    type: TotpEnrollmentRef,
    description:
      "Starts enrolling an authenticator app for the viewer; confirm with `confirmTotp`. Step-up once a factor is active.",
    args: { input: t.arg({ type: EnrollTotpInput, required: false }) },
    errors: resultTypes("EnrollTotp", "enrollment", FACTOR_ERRORS),
    resolve: async (_root, { input }, ctx) =>
      required((await ctx.rpc.mfa.enrollTotp({ displayName: input?.displayName ?? "" })).enrollment, "an enrollment"),
  }),
  confirmTotp: t.field({
    type: ConfirmTotpPayload,
    description: "Activates the viewer's pending authenticator with a current code.",
    args: { input: t.arg({ type: ConfirmTotpInput, required: true }) },
    errors: resultTypes("ConfirmTotp", "result", FACTOR_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.mfa.confirmTotp({ factorId: String(input.factorId), code: input.code });
      return { factor: required(res.factor, "a factor"), recoveryCodes: res.recoveryCodes };
    },
  }),
  removeFactor: t.field({
    type: "Boolean",
    description:
      "Removes one of the viewer's factors (step-up). Refused while the tenant requires MFA of the viewer and it is the last.",
    args: { factorId: t.arg.id({ required: true }) },
    errors: resultTypes("RemoveFactor", "ok", FACTOR_ERRORS),
    resolve: async (_root, { factorId }, ctx) => {
      await ctx.rpc.mfa.removeFactor({ factorId: String(factorId) });
      return true;
    },
  }),
  regenerateRecoveryCodes: t.field({
    type: ["String"],
    description: "Replaces the viewer's recovery codes with ten new ones, shown only here (step-up).",
    errors: resultTypes("RegenerateRecoveryCodes", "recoveryCodes", FACTOR_ERRORS),
    resolve: async (_root, _args, ctx) => (await ctx.rpc.mfa.regenerateRecoveryCodes({})).recoveryCodes,
  }),
  setMfaPolicy: t.field({
    type: MfaPolicyRef,
    description: "Sets the tenant's MFA policy: owners and admins (step-up), platform admins with `tenantId`.",
    args: { input: t.arg({ type: SetMfaPolicyInput, required: true }) },
    errors: resultTypes("SetMfaPolicy", "policy", FACTOR_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      let tenantId = "";
      if (input.tenantId != null) {
        tenantId = parseGlobalId(String(input.tenantId), "Tenant") ?? "";
        if (!tenantId) throw new InputError("Unknown tenant.", [{ field: "tenantId", message: "not a Tenant id" }]);
      }
      const res = await ctx.rpc.mfa.setMfaPolicy({
        mode: input.mode,
        gracePeriodDays: input.gracePeriodDays,
        tenantId,
      });
      return required(res.policy, "a policy");
    },
  }),
}));
