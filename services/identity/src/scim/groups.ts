import type { TxEntityManager } from "@tessera/platform/db";
import {
  createGroup,
  deleteGroup,
  type GroupInput,
  type GroupRecord,
  groupById,
  listGroups,
  updateGroup,
} from "../domain/groups.ts";
import { badRequest, ScimError } from "./errors.ts";
import type { FilterSchema } from "./filter.ts";
import { handleResource, type ResourceType } from "./handler.ts";
import { etagOf, excludes, type Resource } from "./resource.ts";
import type { ScimRequest, ScimResponse } from "./router.ts";
import { GROUP_SCHEMA } from "./schemas.ts";

/** What `filter=` may name on Groups (relation `r` of GROUPS_RELATION). */
export const GROUP_FILTER: FilterSchema = {
  urn: GROUP_SCHEMA,
  attrs: {
    id: { type: "ci", sql: "r.id::text" },
    displayname: { type: "ci", sql: "r.display_name" },
    externalid: { type: "cs", sql: "r.external_id" },
    "meta.created": { type: "date", sql: "r.created_at" },
    "meta.lastmodified": { type: "date", sql: "r.modified_at" },
  },
  multi: {
    members: {
      from: "scim_group_members gm",
      join: "gm.group_id = r.id",
      sub: { value: { type: "ci", sql: "gm.user_id::text" } },
    },
  },
};

const KNOWN = new Set(["displayname", "members", "externalid"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_MEMBERS = 20_000;

function render(g: GroupRecord, base: string): Resource {
  const resource: Resource = {
    schemas: [GROUP_SCHEMA],
    id: g.id,
    ...(g.externalId !== undefined && { externalId: g.externalId }),
    displayName: g.displayName,
    ...(g.members &&
      g.members.length > 0 && {
        members: g.members.map((m) => ({ value: m.id, $ref: `${base}/Users/${m.id}` })),
      }),
  };
  resource.meta = {
    resourceType: "Group",
    created: g.createdAt.toISOString(),
    lastModified: g.modifiedAt.toISOString(),
    location: `${base}/Groups/${g.id}`,
    ...(g.members && { version: etagOf(resource) }),
  };
  return resource;
}

function get(obj: Record<string, unknown>, name: string): unknown {
  const key = Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : obj[key];
}

/** A Group body (POST, PUT, or the result of a PATCH) as the domain's input. */
export function parseGroup(body: unknown): GroupInput {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw badRequest("invalidSyntax", "a Group is an object");
  const b = body as Record<string, unknown>;
  const displayName = get(b, "displayName");
  if (typeof displayName !== "string" || displayName.trim() === "" || displayName.length > 256) {
    throw badRequest("invalidValue", "displayName is required (a string of at most 256 characters)");
  }
  const externalId = get(b, "externalId");
  if (externalId !== undefined && externalId !== null && (typeof externalId !== "string" || externalId.length > 256)) {
    throw badRequest("invalidValue", "externalId must be a string of at most 256 characters");
  }
  const members = get(b, "members") ?? [];
  if (!Array.isArray(members) || members.length > MAX_MEMBERS) {
    throw badRequest("invalidValue", `members must be a list (at most ${MAX_MEMBERS})`);
  }
  const memberIds = members.map((m, i) => {
    const value = m && typeof m === "object" ? get(m as Record<string, unknown>, "value") : undefined;
    if (typeof value !== "string" || !UUID.test(value)) {
      throw badRequest("invalidValue", `members[${i}].value must be the id of a User`);
    }
    return value.toLowerCase();
  });
  return {
    displayName,
    externalId: typeof externalId === "string" ? externalId : undefined,
    memberIds: [...new Set(memberIds)],
  };
}

async function load(em: TxEntityManager, tenantId: string, id: string, base: string, lock = false) {
  const group = await groupById(em, tenantId, id, lock);
  if (!group) throw new ScimError(404, "group not found");
  return { record: group, resource: render(group, base) };
}

const GROUPS: ResourceType<GroupRecord, GroupInput> = {
  collection: "Groups",
  noun: "Group",
  urn: GROUP_SCHEMA,
  filter: GROUP_FILTER,
  known: KNOWN,
  parse: parseGroup,
  load,
  async list(em, req, where, offset, limit) {
    const withMembers = !excludes(req.params, "members");
    const { groups, total } = await listGroups(em, req.tenantId, where, offset, limit, withMembers);
    return { resources: groups.map((g) => render(g, req.base)), total };
  },
  create: createGroup,
  update: updateGroup,
  remove: deleteGroup,
};

/** /Groups and /Groups/{id}. */
export function handleGroups(req: ScimRequest): Promise<ScimResponse> {
  return handleResource(GROUPS, req);
}
