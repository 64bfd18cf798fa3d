import { rotateScimTokenById, scimGroupProblems, scimTokenState } from "@tessera/platform/edge";
import type { ScimSettings, ScimToken } from "@tessera/proto/tessera/identity/v1/scim_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { apiRoute, createHeaders, isoTime, pathId, problemResponses, timestamp } from "./common.ts";
import { type IdentityClients, identityClients, ROLE_NAMES, roleField, roleName, roleOf } from "./identity-common.ts";

/** A SCIM token as the REST API shows it: never its secret. */
export const ScimTokenSchema = z
  .object({
    id: z.string(),
    prefix: z.string().describe("The visible part of the token (`tss_scim_<prefix>_…`)"),
    state: z
      .enum(["active", "rotated", "expired", "revoked"])
      .describe(
        "active: the tenant's current token; rotated: replaced, valid until its successor is first used or `expires_at`; expired, revoked: refused",
      ),
    created_by: z.string().describe("User id of its creator"),
    created_at: timestamp(),
    expires_at: timestamp().nullable().describe("Set once rotated: the end of its overlap"),
    revoked_at: timestamp().nullable(),
    last_used_at: timestamp().nullable().describe("null: never used; updated at most once a minute"),
    replaces_token_id: z.string().nullable().describe("For a token issued by rotation: the token it replaced"),
  })
  .meta({ id: "ScimToken" });

const SECRET = z
  .string()
  .describe(
    "The full bearer token for the directory, `tss_scim_<prefix>_<secret>`: shown only in this answer (a replay of the request answers without it)",
  );

const CreatedScimTokenSchema = ScimTokenSchema.extend({ secret: SECRET }).meta({ id: "CreatedScimToken" });

const RotatedScimTokenSchema = ScimTokenSchema.extend({
  secret: SECRET,
  previous: ScimTokenSchema.describe("The token it replaces, with the end of its overlap as `expires_at`"),
}).meta({ id: "RotatedScimToken" });

const ScimTokenListSchema = z
  .object({
    data: z.array(ScimTokenSchema).describe("At most the 50 newest, newest first"),
    next_cursor: z.null().describe("Always null: the list is never longer than one page"),
  })
  .meta({ id: "ScimTokenList" });

/** The group → role mapping as the REST API shows it. */
export const ScimGroupMappingSchema = z
  .object({
    group_roles: z.array(
      z.object({
        group: z.string().describe("A provisioned group's displayName (case-insensitive) or externalId"),
        role: z.enum(ROLE_NAMES),
      }),
    ),
    updated_at: timestamp().nullable().describe("null: never set (groups give no roles)"),
  })
  .meta({ id: "ScimGroupMapping" });

const SetGroupMappingBody = z.strictObject({
  group_roles: z
    .array(
      z.strictObject({
        group: z.string().describe("1–256 characters, no control characters; each group once"),
        role: roleField(),
      }),
    )
    .superRefine((entries, ctx) => {
      for (const p of scimGroupProblems(entries.map((e) => e.group))) {
        ctx.addIssue({ code: "custom", message: p.message, path: p.index === undefined ? [] : [p.index, "group"] });
      }
    })
    .describe(
      "Replaces the whole mapping (at most 100 groups; empty: groups give no roles). A member gets the highest role of their mapped groups; only owners map a group to owner",
    ),
});

const RotateBody = z
  .strictObject({
    overlap_seconds: z
      .int()
      .min(0)
      .max(86_400)
      .optional()
      .describe("How long the old token stays valid at most (0 or absent: identity's default, an hour); ≤ 1 day"),
  })
  // no body at all is fine too (Fastify reads a missing body as null)
  .nullish();

const tokenParams = z.object({ tokenId: z.string().describe("SCIM token id (UUID)") });

const optionalTime = (ts: ScimToken["expireTime"]) => (ts ? isoTime(ts) : null);

function tokenView(t: ScimToken | undefined): z.infer<typeof ScimTokenSchema> {
  if (!t) throw new Error("identity answered without a SCIM token");
  return {
    id: t.id,
    prefix: t.prefix,
    state: scimTokenState(t),
    created_by: t.createdBy,
    created_at: isoTime(t.createTime),
    expires_at: optionalTime(t.expireTime),
    revoked_at: optionalTime(t.revokeTime),
    last_used_at: optionalTime(t.lastUsedTime),
    replaces_token_id: t.replacesTokenId || null,
  };
}

function mappingView(s: ScimSettings | undefined): z.infer<typeof ScimGroupMappingSchema> {
  if (!s) throw new Error("identity answered without SCIM settings");
  return {
    group_roles: s.groupRoles.map((m) => ({ group: m.group, role: roleName(m.role) })),
    updated_at: optionalTime(s.updateTime),
  };
}

/**
 * /v1/scim over identity's ScimService (audience `identity`): the tenant's SCIM bearer token for
 * its directory (Okta, Entra ID, …) and how provisioned groups map to roles; owners and admins
 * (API keys need scope `identity.scim.manage`). Secrets are shown once, in the answer of the POST
 * that issued them, and never kept with its Idempotency-Key record. The directory calls identity's
 * SCIM endpoint (`<identity's public HTTP address>/scim/v2`), not this edge.
 */
export function scimRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).scim;
  const tags = ["scim"];
  const security = requiresScope("identity.scim.manage");
  const secretOnce = { tessera: { auth: true, idempotent: true, notStored: ["secret"] } };

  r.get(
    "/v1/scim/tokens",
    {
      config: apiRoute,
      schema: {
        operationId: "listScimTokens",
        security,
        summary: "List the tenant's SCIM tokens (newest first; never a secret)",
        tags,
        response: { 200: ScimTokenListSchema, ...problemResponses(403) },
      },
    },
    async () => ({ data: (await client().listScimTokens({})).tokens.map(tokenView), next_cursor: null }),
  );

  r.post(
    "/v1/scim/tokens",
    {
      config: secretOnce,
      schema: {
        operationId: "createScimToken",
        security,
        summary: "Create the tenant's SCIM token",
        description:
          "The answer holds the token, once. A tenant has one current token: while it has one this is 409 (rotate it instead). No body, or `{}`.",
        tags,
        headers: createHeaders,
        body: z.strictObject({}).nullish(),
        response: { 201: CreatedScimTokenSchema, ...problemResponses(400, 403, 409, 413, 415, 422) },
      },
    },
    async (_req, reply) => {
      const res = await client().createScimToken({});
      reply.code(201);
      return { ...tokenView(res.token), secret: res.secret };
    },
  );

  r.post(
    "/v1/scim/tokens/:tokenId/rotate",
    {
      config: secretOnce,
      schema: {
        operationId: "rotateScimToken",
        security,
        summary: "Rotate the tenant's current SCIM token",
        description:
          "Issues a new token, shown once in the answer. The old one stays valid until the new one is first used or `overlap_seconds` have passed, whichever comes first. Only the current (`active`) token can be rotated: another one is 409.",
        tags,
        headers: createHeaders,
        params: tokenParams,
        body: RotateBody,
        response: { 201: RotatedScimTokenSchema, ...problemResponses(400, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const res = await rotateScimTokenById(client(), pathId(req.params.tokenId), req.body?.overlap_seconds ?? 0);
      reply.code(201);
      return { ...tokenView(res.token), secret: res.secret, previous: tokenView(res.previous) };
    },
  );

  r.delete(
    "/v1/scim/tokens/:tokenId",
    {
      config: apiRoute,
      schema: {
        operationId: "revokeScimToken",
        security,
        summary: "Revoke a SCIM token",
        description: "The directory's next request with it is a 401. Revoking a revoked token changes nothing.",
        tags,
        params: tokenParams,
        response: { 204: z.undefined().describe("Revoked"), ...problemResponses(403, 404) },
      },
    },
    async (req, reply) => {
      await client().revokeScimToken({ tokenId: pathId(req.params.tokenId) });
      return reply.code(204).send();
    },
  );

  r.get(
    "/v1/scim/group-mapping",
    {
      config: apiRoute,
      schema: {
        operationId: "getScimGroupMapping",
        security,
        summary: "Read how provisioned groups map to roles",
        tags,
        response: { 200: ScimGroupMappingSchema, ...problemResponses(403) },
      },
    },
    async () => mappingView((await client().getScimSettings({})).settings),
  );

  r.put(
    "/v1/scim/group-mapping",
    {
      config: apiRoute,
      schema: {
        operationId: "setScimGroupMapping",
        security,
        summary: "Replace how provisioned groups map to roles",
        description:
          "The roles of members in provisioned groups are derived again at once. Mapping a group to owner needs an owner (403 otherwise); the tenant's last owner is never demoted by a mapping.",
        tags,
        body: SetGroupMappingBody,
        response: { 200: ScimGroupMappingSchema, ...problemResponses(400, 403, 413, 415) },
      },
    },
    async (req) => {
      const groupRoles = req.body.group_roles.map((m) => ({ group: m.group, role: roleOf(m.role) }));
      return mappingView((await client().updateScimSettings({ groupRoles })).settings);
    },
  );
}
