import type { SsoConnection } from "@tessera/proto/tessera/identity/v1/sso_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { apiRoute, isoTime, problemResponses, timestamp } from "./common.ts";
import { type IdentityClients, identityClients, ROLE_NAMES, roleName, roleOf } from "./identity-common.ts";

const claimName = () =>
  z
    .string()
    .regex(/^[A-Za-z0-9_:./-]{1,128}$/)
    .describe("A claim of the ID token");

/** The tenant's OIDC identity provider as the REST API shows it (never the client secret). */
export const SsoConnectionSchema = z
  .object({
    issuer: z.string(),
    client_id: z.string(),
    client_secret_set: z.boolean(),
    client_secret_last4: z.string().describe("The last four characters of the stored secret"),
    scopes: z.array(z.string()),
    email_claim: z.string(),
    name_claim: z.string(),
    groups_claim: z.string(),
    role_mappings: z.array(z.object({ value: z.string(), role: z.enum(ROLE_NAMES) })),
    default_role: z.enum(ROLE_NAMES).describe("Role of members created at their first SSO login"),
    sync_roles: z.boolean(),
    trust_idp_mfa: z.boolean(),
    enabled: z.boolean(),
    sso_required: z.boolean().describe("Password login is refused except for the break-glass owners"),
    break_glass_user_ids: z.array(z.string()),
    redirect_uri: z.string().describe("Register it at the IdP"),
    updated_at: timestamp(),
  })
  .meta({ id: "SsoConnection" });

const SetSsoConnectionBody = z.strictObject({
  issuer: z.url().max(512).describe("The IdP's issuer (https); its discovery is checked now"),
  client_id: z.string().min(1).max(256),
  client_secret: z.string().max(1024).optional().describe("Absent: keep the stored secret"),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/))
    .max(20)
    .optional(),
  email_claim: claimName().optional(),
  name_claim: claimName().optional(),
  groups_claim: claimName().optional(),
  role_mappings: z
    .array(z.strictObject({ value: z.string().min(1).max(256), role: z.enum(ROLE_NAMES) }))
    .max(100)
    .optional(),
  default_role: z.enum(["admin", "member", "viewer"]).optional(),
  sync_roles: z.boolean().optional(),
  trust_idp_mfa: z.boolean().optional(),
  enabled: z.boolean(),
  sso_required: z.boolean().optional(),
  break_glass_user_ids: z.array(z.uuid()).max(10).optional(),
});

function connectionView(c: SsoConnection | undefined): z.infer<typeof SsoConnectionSchema> {
  if (!c) throw new Error("identity answered without a connection");
  return {
    issuer: c.issuer,
    client_id: c.clientId,
    client_secret_set: c.clientSecretSet,
    client_secret_last4: c.clientSecretLast4,
    scopes: c.scopes,
    email_claim: c.emailClaim,
    name_claim: c.nameClaim,
    groups_claim: c.groupsClaim,
    role_mappings: c.roleMappings.map((m) => ({ value: m.value, role: roleName(m.role) })),
    default_role: roleName(c.defaultRole),
    sync_roles: c.syncRoles,
    trust_idp_mfa: c.trustIdpMfa,
    enabled: c.enabled,
    sso_required: c.ssoRequired,
    break_glass_user_ids: c.breakGlassUserIds,
    redirect_uri: c.redirectUri,
    updated_at: isoTime(c.updateTime),
  };
}

/**
 * /v1/sso-connection over identity's SsoService (audience `identity`): the caller's tenant's
 * OpenID Connect connection, for owners and admins (API keys need scope `identity.sso.manage`).
 * The client secret goes in and never comes out.
 */
export function ssoConnectionRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).sso;
  const tags = ["sso"];
  const security = requiresScope("identity.sso.manage");

  r.get(
    "/v1/sso-connection",
    {
      config: apiRoute,
      schema: {
        operationId: "getSsoConnection",
        security,
        summary: "Read the tenant's single sign-on connection",
        tags,
        response: { 200: SsoConnectionSchema, ...problemResponses(403, 404) },
      },
    },
    async () => connectionView((await client().getSsoConnection({})).connection),
  );

  r.put(
    "/v1/sso-connection",
    {
      config: apiRoute,
      schema: {
        operationId: "setSsoConnection",
        security,
        summary: "Create or replace the tenant's single sign-on connection",
        description:
          "identity fetches the IdP's discovery document (5 s deadline): it must name `issuer` and have authorization, token and JWKS endpoints, else 400 naming `issuer`. `sso_required` needs `enabled`; break-glass users must be owners. A user to whom MFA applies needs a recent multi-factor sign-in (403 `step-up-required`). Audited as `sso_connection.created` / `.updated`.",
        tags,
        body: SetSsoConnectionBody,
        response: { 200: SsoConnectionSchema, ...problemResponses(400, 403, 409, 413, 415) },
      },
    },
    async (req) => {
      const b = req.body;
      const res = await client().setSsoConnection({
        issuer: b.issuer,
        clientId: b.client_id,
        clientSecret: b.client_secret ?? "",
        scopes: b.scopes ?? [],
        emailClaim: b.email_claim ?? "",
        nameClaim: b.name_claim ?? "",
        groupsClaim: b.groups_claim ?? "",
        roleMappings: (b.role_mappings ?? []).map((m) => ({ value: m.value, role: roleOf(m.role) })),
        ...(b.default_role && { defaultRole: roleOf(b.default_role) }),
        syncRoles: b.sync_roles ?? false,
        trustIdpMfa: b.trust_idp_mfa ?? false,
        enabled: b.enabled,
        ssoRequired: b.sso_required ?? false,
        breakGlassUserIds: b.break_glass_user_ids ?? [],
      });
      return connectionView(res.connection);
    },
  );

  r.delete(
    "/v1/sso-connection",
    {
      config: apiRoute,
      schema: {
        operationId: "deleteSsoConnection",
        security,
        summary: "Remove the tenant's single sign-on connection",
        description: "Password login works again for the tenant. Audited as `sso_connection.deleted`.",
        tags,
        response: { 204: z.undefined().describe("Removed (or there was none)"), ...problemResponses(403) },
      },
    },
    async (_req, reply) => {
      await client().deleteSsoConnection({});
      return reply.code(204).send();
    },
  );
}
