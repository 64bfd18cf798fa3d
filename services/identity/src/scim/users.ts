import type { TxEntityManager } from "@tessera/platform/db";
import {
  createScimUser,
  deleteScimUser,
  groupsOfUsers,
  listScimUsers,
  type ScimUserAttrs,
  type ScimUserInput,
  type ScimUserRecord,
  scimUserById,
  updateScimUser,
} from "../domain/scim-users.ts";
import { badRequest, ScimError } from "./errors.ts";
import type { FilterSchema } from "./filter.ts";
import { handleResource, type ResourceType } from "./handler.ts";
import { etagOf, excludes, type Resource } from "./resource.ts";
import type { ScimRequest, ScimResponse } from "./router.ts";
import { USER_SCHEMA } from "./schemas.ts";

const ci = (sql: string) => ({ type: "ci" as const, sql });

/** What `filter=` may name on Users (relation `r` of SCIM_USERS_RELATION). */
export const USER_FILTER: FilterSchema = {
  urn: USER_SCHEMA,
  attrs: {
    id: ci("r.id::text"),
    username: ci("r.email"),
    externalid: { type: "cs", sql: "r.external_id" },
    displayname: ci("(case when r.has_scim then r.attrs->>'displayName' else r.display_name end)"),
    "name.givenname": ci("(r.attrs->'name'->>'givenName')"),
    "name.familyname": ci("(r.attrs->'name'->>'familyName')"),
    "name.formatted": ci("(r.attrs->'name'->>'formatted')"),
    active: { type: "boolean", sql: "r.active" },
    "meta.created": { type: "date", sql: "r.created_at" },
    "meta.lastmodified": { type: "date", sql: "r.modified_at" },
  },
  multi: {
    emails: {
      from: "jsonb_array_elements(case when jsonb_typeof(r.attrs->'emails') = 'array' then r.attrs->'emails' else '[]'::jsonb end) e",
      join: "true",
      sub: {
        value: ci("(e->>'value')"),
        type: ci("(e->>'type')"),
        primary: { type: "boolean", sql: "(e->>'primary')::boolean" },
      },
    },
    groups: {
      from: "scim_group_members gm",
      join: "gm.user_id = r.id and gm.tenant_id = current_setting('app.tenant_id')::uuid",
      sub: { value: ci("gm.group_id::text") },
    },
  },
};

const KNOWN = new Set(["username", "name", "displayname", "emails", "active", "externalid", "groups"]);

function render(u: ScimUserRecord, groups: Array<{ id: string; displayName: string }>, base: string): Resource {
  const resource: Resource = {
    schemas: [USER_SCHEMA],
    id: u.id,
    ...(u.externalId !== undefined && { externalId: u.externalId }),
    userName: u.userName,
    ...(u.attrs.name && { name: u.attrs.name }),
    ...(u.attrs.displayName !== undefined && { displayName: u.attrs.displayName }),
    ...(u.attrs.emails && u.attrs.emails.length > 0 && { emails: u.attrs.emails }),
    active: u.active,
    groups: groups.map((g) => ({ value: g.id, $ref: `${base}/Groups/${g.id}`, display: g.displayName })),
  };
  if ((resource.groups as unknown[]).length === 0) delete resource.groups;
  resource.meta = {
    resourceType: "User",
    created: u.createdAt.toISOString(),
    lastModified: u.modifiedAt.toISOString(),
    location: `${base}/Users/${u.id}`,
    version: etagOf(resource),
  };
  return resource;
}

/** A case-insensitive attribute of a JSON object (SCIM attribute names are case-insensitive). */
function get(obj: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

function text(value: unknown, field: string, max = 256): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest("invalidValue", `${field} must be a string`);
  if (value.length > max) throw badRequest("invalidValue", `${field} is longer than ${max} characters`);
  return value;
}

function bool(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value === "boolean") return value;
  // Azure AD sends "True"/"False" strings in PATCH values
  if (typeof value === "string" && /^(true|false)$/i.test(value)) return value.toLowerCase() === "true";
  throw badRequest("invalidValue", `${field} must be true or false`);
}

/** A User body (POST, PUT, or the result of a PATCH) as the domain's input; unknown attributes are ignored. */
export function parseUser(body: unknown): ScimUserInput {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw badRequest("invalidSyntax", "a User is an object");
  const b = body as Record<string, unknown>;
  const userName = text(get(b, "userName"), "userName", 254)?.trim();
  if (!userName) throw badRequest("invalidValue", "userName is required");
  if (!/^[^\s@]+@[^\s@]+$/.test(userName) || userName.length < 3) {
    throw badRequest("invalidValue", "userName must be an email address");
  }
  const attrs: ScimUserAttrs = {};
  const displayName = text(get(b, "displayName"), "displayName");
  if (displayName !== undefined) attrs.displayName = displayName;
  const name = get(b, "name");
  if (name !== undefined && name !== null) {
    if (typeof name !== "object" || Array.isArray(name)) throw badRequest("invalidValue", "name must be an object");
    const n = name as Record<string, unknown>;
    const parts = {
      formatted: text(get(n, "formatted"), "name.formatted"),
      givenName: text(get(n, "givenName"), "name.givenName"),
      familyName: text(get(n, "familyName"), "name.familyName"),
    };
    const kept = Object.fromEntries(Object.entries(parts).filter(([, v]) => v !== undefined));
    if (Object.keys(kept).length > 0) attrs.name = kept;
  }
  const emails = get(b, "emails");
  if (emails !== undefined && emails !== null) {
    if (!Array.isArray(emails) || emails.length > 20) throw badRequest("invalidValue", "emails must be a list (≤ 20)");
    attrs.emails = emails.map((e, i) => {
      if (!e || typeof e !== "object") throw badRequest("invalidValue", `emails[${i}] must be an object`);
      const o = e as Record<string, unknown>;
      const value = text(get(o, "value"), `emails[${i}].value`, 254);
      if (!value) throw badRequest("invalidValue", `emails[${i}].value is required`);
      const type = text(get(o, "type"), `emails[${i}].type`, 32);
      const primary = get(o, "primary");
      return {
        value,
        ...(type !== undefined && { type }),
        ...(primary !== undefined && primary !== null && { primary: bool(primary, `emails[${i}].primary`, false) }),
      };
    });
    if (attrs.emails.length === 0) delete attrs.emails;
  }
  return {
    userName,
    externalId: text(get(b, "externalId"), "externalId"),
    attrs,
    active: bool(get(b, "active"), "active", true),
  };
}

async function load(em: TxEntityManager, tenantId: string, id: string, base: string, lock = false) {
  const user = await scimUserById(em, tenantId, id, lock);
  if (!user) throw new ScimError(404, "user not found");
  const groups = await groupsOfUsers(em, tenantId, [id]);
  return { record: user, resource: render(user, groups.get(id) ?? [], base) };
}

const USERS: ResourceType<ScimUserRecord, ScimUserInput> = {
  collection: "Users",
  noun: "User",
  urn: USER_SCHEMA,
  filter: USER_FILTER,
  known: KNOWN,
  parse: parseUser,
  load,
  async list(em, req, where, offset, limit) {
    const { users, total } = await listScimUsers(em, req.tenantId, where, offset, limit);
    const groups = excludes(req.params, "groups")
      ? new Map()
      : await groupsOfUsers(
          em,
          req.tenantId,
          users.map((u) => u.id),
        );
    return { resources: users.map((u) => render(u, groups.get(u.id) ?? [], req.base)), total };
  },
  create: createScimUser,
  update: updateScimUser,
  remove: deleteScimUser,
  checkPatched(wanted, current) {
    if (JSON.stringify(get(wanted, "groups") ?? null) !== JSON.stringify(current.groups ?? null)) {
      throw badRequest("mutability", "groups is read-only: change membership through /Groups");
    }
  },
};

/** /Users and /Users/{id}. */
export function handleUsers(req: ScimRequest): Promise<ScimResponse> {
  return handleResource(USERS, req);
}
