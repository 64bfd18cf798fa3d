import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
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
import { type FilterSchema, filterToSql } from "./filter.ts";
import { applyPatch, etagOf, excludes, paging, project, type Resource, requireIfMatch } from "./resource.ts";
import type { ScimRequest, ScimResponse } from "./router.ts";
import { GROUP_SCHEMA, LIST_SCHEMA } from "./schemas.ts";

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
  return { group, resource: render(group, base) };
}

/** /Groups and /Groups/{id}. */
export async function handleGroups(req: ScimRequest): Promise<ScimResponse> {
  const { deps, tenantId, base, id } = req;
  const tx = <T>(fn: (em: TxEntityManager) => Promise<T>) => withTenantTransaction(deps.orm, fn);
  if (id === undefined) {
    if (req.method === "GET") {
      const where = filterToSql(req.params.get("filter"), GROUP_FILTER);
      const { offset, limit } = paging(req.params);
      return tx(async (em) => {
        const withMembers = !excludes(req.params, "members");
        const { groups, total } = await listGroups(em, tenantId, where, offset, limit, withMembers);
        const Resources = groups.map((g) => project(render(g, base), req.params, GROUP_SCHEMA));
        return {
          status: 200,
          body: {
            schemas: [LIST_SCHEMA],
            totalResults: total,
            startIndex: offset + 1,
            itemsPerPage: groups.length,
            Resources,
          },
        };
      });
    }
    if (req.method === "POST") {
      const input = parseGroup(req.body);
      return tx(async (em) => {
        const groupId = await createGroup(deps, em, tenantId, input);
        const { resource } = await load(em, tenantId, groupId, base);
        return { status: 201, body: resource, location: `${base}/Groups/${groupId}` };
      });
    }
    throw new ScimError(405, "use GET or POST on /Groups");
  }
  switch (req.method) {
    case "GET":
      return tx(async (em) => ({
        status: 200,
        body: project((await load(em, tenantId, id, base)).resource, req.params, GROUP_SCHEMA),
      }));
    case "PUT":
    case "PATCH":
      return tx(async (em) => {
        const current = await load(em, tenantId, id, base, true);
        requireIfMatch(req.headers["if-match"], current.resource);
        const wanted = req.method === "PUT" ? req.body : applyPatch(current.resource, req.body, KNOWN, GROUP_SCHEMA);
        await updateGroup(deps, em, tenantId, current.group, parseGroup(wanted));
        return { status: 200, body: (await load(em, tenantId, id, base)).resource };
      });
    case "DELETE":
      return tx(async (em) => {
        const current = await load(em, tenantId, id, base, true);
        requireIfMatch(req.headers["if-match"], current.resource);
        await deleteGroup(deps, em, tenantId, id);
        return { status: 204 };
      });
    default:
      throw new ScimError(405, "use GET, PUT, PATCH or DELETE on a Group");
  }
}
