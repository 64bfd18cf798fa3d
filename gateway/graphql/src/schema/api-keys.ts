import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ApiKey } from "@tessera/proto/tessera/identity/v1/resources_pb";
import { builder } from "../builder.ts";
import { InputError, StepUpRequiredError } from "../errors/gateway-errors.ts";
import { fromServiceError } from "../errors/mapping.ts";
import { encodeGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import {
  connectionComplexity,
  DateTime,
  definedEnum,
  type ErrorClass,
  pageArgs,
  resultTypes,
  toDate,
  WRITE_ERRORS,
} from "./common.ts";
import { UserRef } from "./user.ts";
import { ROLES, RoleEnum } from "./viewer.ts";

const ApiKeyRef = builder.objectRef<ApiKey>("ApiKey").implement({
  description: "An API key of the caller's tenant, for partner integrations. The secret is never shown again.",
  fields: (t) => ({
    id: t.id({ resolve: (k) => encodeGlobalId("ApiKey", k.id) }),
    name: t.exposeString("displayName"),
    prefix: t.exposeString("prefix", { description: "The visible part of the key (`tsk_live_<prefix>_…`)." }),
    role: t.field({ type: RoleEnum, resolve: (k) => definedEnum(k.role, ROLES) }),
    scopes: t.exposeStringList("scopes", { description: "Permissions the key may use (within its role)." }),
    createdAt: t.field({ type: DateTime, resolve: (k) => toDate(k.createTime) }),
    expiresAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Null: does not expire.",
      resolve: (k) => (k.expireTime ? toDate(k.expireTime) : null),
    }),
    lastUsedAt: t.field({
      type: DateTime,
      nullable: true,
      description: "Null: never used. Updated at most once a minute.",
      resolve: (k) => (k.lastUsedTime ? toDate(k.lastUsedTime) : null),
    }),
    revokedAt: t.field({
      type: DateTime,
      nullable: true,
      resolve: (k) => (k.revokeTime ? toDate(k.revokeTime) : null),
    }),
    createdBy: t.field({
      type: UserRef,
      nullable: true,
      description: "Who created it, while they are a member; null otherwise.",
      resolve: (k) => k.createdBy || null,
    }),
  }),
});

const ApiKeyConnection = builder.connectionObject(
  { type: ApiKeyRef, name: "ApiKeyConnection", edgesNullable: false, nodeNullable: false },
  { name: "ApiKeyEdge" },
);

/** What `createApiKey` answers: the key and its secret, shown only here. */
interface NewApiKey {
  apiKey: ApiKey;
  secret: string;
}

const NewApiKeyRef = builder.objectRef<NewApiKey>("NewApiKey").implement({
  description: "A created API key and its secret: store the secret now, it is shown only here.",
  fields: (t) => ({
    apiKey: t.field({ type: ApiKeyRef, resolve: (n) => n.apiKey }),
    secret: t.exposeString("secret", { description: "The full key, `tsk_live_<prefix>_<secret>`." }),
  }),
});

builder.queryField("apiKeys", (t) =>
  t.field({
    type: ApiKeyConnection,
    description: "The API keys of the session's tenant, newest first, revoked ones included (owners and admins).",
    args: { ...pageArgs },
    complexity: connectionComplexity,
    resolve: (_root, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        const res = await ctx.rpc.apiKeys.listApiKeys({ page: { pageToken, pageSize } });
        return { items: res.apiKeys, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
);

const CreateApiKeyInput = builder.inputType("CreateApiKeyInput", {
  fields: (t) => ({
    name: t.string({ required: true, description: "1–200 characters, no control characters." }),
    role: t.field({ type: RoleEnum, required: true, description: "ADMIN, MEMBER or VIEWER, at most your own." }),
    scopes: t.stringList({
      required: true,
      description: "1–50 distinct permission names the key may use, e.g. `projects.read`.",
    }),
    expiresAt: t.field({ type: DateTime, required: false, description: "In the future; left out: never expires." }),
  }),
});

const RevokeApiKeyInput = builder.inputType("RevokeApiKeyInput", {
  fields: (t) => ({ id: t.id({ required: true, description: "The `ApiKey` id." }) }),
});

/** The contract's field names as this input calls them. */
const INPUT_FIELDS: Record<string, string> = { displayName: "name", expireTime: "expiresAt" };

function withInputNames(err: unknown): unknown {
  const mapped = fromServiceError(err);
  if (!(mapped instanceof InputError)) return mapped;
  const fields = mapped.fieldErrors.map((f) => ({ ...f, field: INPUT_FIELDS[f.field] ?? f.field }));
  return new InputError(mapped.message.replace(/display_name/g, "name").replace(/expire_time/g, "expiresAt"), fields);
}

builder.mutationFields((t) => ({
  createApiKey: t.field({
    type: NewApiKeyRef,
    description:
      "Creates an API key (owners and admins; may need a recent multi-factor sign-in). The secret is in the answer, once.",
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    errors: resultTypes("CreateApiKey", "newApiKey", [...WRITE_ERRORS, StepUpRequiredError] as ErrorClass[]),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.apiKeys
        .createApiKey({
          displayName: input.name,
          role: input.role,
          scopes: input.scopes,
          ...(input.expiresAt && { expireTime: timestampFromDate(input.expiresAt) }),
        })
        .catch((err: unknown) => {
          throw withInputNames(err);
        });
      if (!res.apiKey) throw new Error("identity answered without a key");
      return { apiKey: res.apiKey, secret: res.secret };
    },
  }),
  revokeApiKey: t.field({
    type: ApiKeyRef,
    description: "Revokes an API key (owners and admins): its next request fails. Revoking again changes nothing.",
    args: { input: t.arg({ type: RevokeApiKeyInput, required: true }) },
    errors: resultTypes("RevokeApiKey", "apiKey"),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.apiKeys.revokeApiKey({ apiKeyId: requireGlobalId(String(input.id), "ApiKey") });
      if (!res.apiKey) throw new Error("identity answered without a key");
      return res.apiKey;
    },
  }),
}));
