import { type MfaPolicy, MfaPolicyMode } from "@tessera/proto/tessera/identity/v1/mfa_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { apiRoute, isoTime, problemResponses, timestamp } from "./common.ts";
import { type IdentityClients, identityClients } from "./identity-common.ts";

const MODE_NAMES = ["off", "admins", "everyone"] as const;
type ModeName = (typeof MODE_NAMES)[number];

const TO_PROTO: Record<ModeName, MfaPolicyMode> = {
  off: MfaPolicyMode.OFF,
  admins: MfaPolicyMode.ADMINS,
  everyone: MfaPolicyMode.EVERYONE,
};

/** The tenant's MFA requirement as the REST API shows it. */
export const MfaPolicySchema = z
  .object({
    mode: z
      .enum(MODE_NAMES)
      .describe("off: nobody is required; admins: owners and admins; everyone: every member must use a second factor"),
    grace_period_days: z
      .int()
      .describe("Days a required user may still sign in without a factor, from `required_since` or their joining"),
    required_since: timestamp().nullable().describe("When the current mode took effect; null while off"),
    updated_at: timestamp().nullable().describe("null: never set (the default, off)"),
    updated_by: z.string().nullable().describe("User id of whoever set it last; null for the default"),
  })
  .meta({ id: "MfaPolicy" });

const SetMfaPolicyBody = z.strictObject({
  mode: z.enum(MODE_NAMES),
  grace_period_days: z.int().min(0).max(90).describe("0–90"),
});

function policyView(p: MfaPolicy | undefined): z.infer<typeof MfaPolicySchema> {
  if (!p) throw new Error("identity answered without a policy");
  const mode = MODE_NAMES.find((n) => TO_PROTO[n] === p.mode);
  if (!mode) throw new Error(`identity sent MFA policy mode ${p.mode}, which this edge does not know`);
  return {
    mode,
    grace_period_days: p.gracePeriodDays,
    required_since: p.requiredSince ? isoTime(p.requiredSince) : null,
    updated_at: p.updateTime ? isoTime(p.updateTime) : null,
    updated_by: p.updatedBy || null,
  };
}

/**
 * /v1/mfa-policy over identity's MfaService (audience `identity`): the caller's tenant's MFA
 * policy, for owners and admins (API keys need scope `identity.mfa_policy.manage`). Setting it is
 * a sensitive operation: a user to whom MFA applies needs a recent multi-factor sign-in (403
 * `step-up-required`).
 */
export function mfaPolicyRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).mfa;
  const tags = ["mfa-policy"];
  const security = requiresScope("identity.mfa_policy.manage");

  r.get(
    "/v1/mfa-policy",
    {
      config: apiRoute,
      schema: {
        operationId: "getMfaPolicy",
        security,
        summary: "Read the tenant's MFA policy",
        tags,
        response: { 200: MfaPolicySchema, ...problemResponses(403) },
      },
    },
    async () => policyView((await client().getMfaPolicy({})).policy),
  );

  r.put(
    "/v1/mfa-policy",
    {
      config: apiRoute,
      schema: {
        operationId: "setMfaPolicy",
        security,
        summary: "Set the tenant's MFA policy",
        description:
          "Replaces the policy. A user to whom MFA applies needs a recent multi-factor sign-in (403 `step-up-required`: sign in again with the second factor). Keeping the mode keeps `required_since` (a new grace period only starts when the mode changes). Audited as `mfa_policy.changed`.",
        tags,
        body: SetMfaPolicyBody,
        response: { 200: MfaPolicySchema, ...problemResponses(400, 403, 409, 413, 415) },
      },
    },
    async (req) => {
      const res = await client().setMfaPolicy({
        mode: TO_PROTO[req.body.mode],
        gracePeriodDays: req.body.grace_period_days,
      });
      return policyView(res.policy);
    },
  );
}
