import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ApiKey } from "@tessera/proto/tessera/identity/v1/resources_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import { createHeaders, isoTime, problemResponses, timestamp } from "./common.ts";
import {
  type IdentityClients,
  identityClients,
  identityDeleteRoute,
  identityListRoute,
  plainText,
  ROLE_NAMES,
  roleName,
  roleOf,
} from "./identity-common.ts";

/** An API key as the REST API shows it: never its secret. */
export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe("The visible part of the key (`tsk_live_<prefix>_…`)"),
    role: z.enum(ROLE_NAMES),
    scopes: z.array(z.string()).describe("Permissions the key may use (within its role)"),
    created_by: z.string().describe("User id of its creator"),
    created_at: timestamp(),
    expires_at: timestamp().nullable().describe("null: does not expire"),
    last_used_at: timestamp().nullable().describe("null: never used; updated at most once a minute"),
    revoked_at: timestamp().nullable(),
  })
  .meta({ id: "ApiKey" });

const CreatedApiKeySchema = ApiKeySchema.extend({
  secret: z
    .string()
    .describe(
      "The full key, `tsk_live_<prefix>_<secret>`: shown only in this answer (a replay of the request answers without it)",
    ),
}).meta({ id: "CreatedApiKey" });

const optionalTime = (ts: ApiKey["expireTime"]) => (ts ? timestampDate(ts).toISOString() : null);

function apiKeyView(k: ApiKey | undefined): z.infer<typeof ApiKeySchema> {
  if (!k) throw new Error("identity answered without a key");
  return {
    id: k.id,
    name: k.displayName,
    prefix: k.prefix,
    role: roleName(k.role),
    scopes: [...k.scopes],
    created_by: k.createdBy,
    created_at: isoTime(k.createTime),
    expires_at: optionalTime(k.expireTime),
    last_used_at: optionalTime(k.lastUsedTime),
    revoked_at: optionalTime(k.revokeTime),
  };
}

const CreateApiKeyBody = z.strictObject({
  name: plainText(200),
  role: z.enum(["admin", "member", "viewer"]).describe("At most your own role; never owner"),
  scopes: z
    .array(z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, "must be a permission name like projects.read"))
    .min(1)
    .max(50)
    .refine((s) => new Set(s).size === s.length, "must not repeat a scope"),
  expires_at: z.iso
    .datetime({ offset: true })
    .refine((v) => Date.parse(v) > Date.now(), "must be in the future")
    .optional()
    .describe("RFC 3339; left out: never expires"),
});

const keyParams = z.object({ apiKeyId: z.string().describe("API key id (UUID)") });

/**
 * /v1/api-keys over identity's ApiKeyService (audience `identity`): owners and admins of the
 * caller's tenant (API keys need scope `identity.api_keys.manage`). The secret is shown once, in
 * the creation's answer, and is never kept with its Idempotency-Key record.
 */
export function apiKeyRoutes(app: FastifyInstance, identity: IdentityClients | undefined): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const client = () => identityClients(identity).apiKeys;
  const tags = ["api-keys"];
  const security = requiresScope("identity.api_keys.manage");

  identityListRoute(
    app,
    "/v1/api-keys",
    {
      operationId: "listApiKeys",
      security,
      summary: "List the tenant's API keys (newest first, revoked ones included)",
      tags,
      item: ApiKeySchema,
      listId: "ApiKeyList",
    },
    async (page) => {
      const res = await client().listApiKeys({ page });
      return { items: res.apiKeys, page: res.page };
    },
    apiKeyView,
  );

  r.post(
    "/v1/api-keys",
    {
      config: { tessera: { auth: true, idempotent: true, notStored: ["secret"] } },
      schema: {
        operationId: "createApiKey",
        security,
        summary: "Create an API key",
        description:
          "The answer holds the secret, once. Creating a key may need a recent multi-factor sign-in (403 `step-up-required`).",
        tags,
        headers: createHeaders,
        body: CreateApiKeyBody,
        response: { 201: CreatedApiKeySchema, ...problemResponses(400, 403, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const { name, role, scopes, expires_at } = req.body;
      const res = await client().createApiKey({
        displayName: name,
        role: roleOf(role),
        scopes,
        ...(expires_at && { expireTime: timestampFromDate(new Date(expires_at)) }),
      });
      reply.code(201);
      return { ...apiKeyView(res.apiKey), secret: res.secret };
    },
  );

  identityDeleteRoute(
    app,
    "/v1/api-keys/:apiKeyId",
    {
      operationId: "revokeApiKey",
      security,
      summary: "Revoke an API key",
      description: "Its next request fails with 401. Revoking a revoked key changes nothing.",
      tags,
      param: "apiKeyId",
      params: keyParams,
      done: "Revoked",
      problems: [403, 404],
    },
    (apiKeyId) => client().revokeApiKey({ apiKeyId }),
  );
}
