import { randomUUID } from "node:crypto";
import type { TxEntityManager } from "@tessera/platform/db";
import { AlreadyExists, InvalidArgument, NotFound } from "@tessera/platform/errors";
import { scimGroupChanged } from "../events/publish-scim.ts";
import type { IdentityDeps } from "./deps.ts";
import { applyGroupRoles } from "./scim-settings.ts";
import { pgArray, query, queryOne, toDate } from "./sql.ts";

/** A tenant's provisioned group. */
export interface GroupRecord {
  id: string;
  displayName: string;
  externalId: string | undefined;
  /** Undefined when not loaded (`excludedAttributes=members`). */
  members: Array<{ id: string; userName: string }> | undefined;
  createdAt: Date;
  modifiedAt: Date;
}

/** What a SCIM write wants the group to be. */
export interface GroupInput {
  displayName: string;
  externalId: string | undefined;
  memberIds: string[];
}

interface GroupRow {
  id: string;
  display_name: string;
  external_id: string | null;
  created_at: unknown;
  modified_at: unknown;
}

/** The tenant's groups as relation `r`; one parameter: the tenant id. */
export const GROUPS_RELATION = `(
  select g.id, g.display_name, g.external_id, g.created_at, g.updated_at as modified_at
  from scim_groups g where g.tenant_id = ?
) r`;

/** Events carry at most this many user ids each; bigger changes are reported in several. */
const IDS_PER_EVENT = 1000;

async function membersOf(em: TxEntityManager, tenantId: string, groupIds: readonly string[]) {
  const out = new Map<string, Array<{ id: string; userName: string }>>();
  if (groupIds.length === 0) return out;
  const rows = await query<{ group_id: string; id: string; email: string }>(
    em,
    `select gm.group_id, u.id, u.email from scim_group_members gm join users u on u.id = gm.user_id
     where gm.tenant_id = ? and gm.group_id = any(?::uuid[])
       and (exists (select 1 from memberships m where m.tenant_id = gm.tenant_id and m.user_id = gm.user_id)
         or exists (select 1 from scim_users s where s.tenant_id = gm.tenant_id and s.user_id = gm.user_id))
     order by u.email`,
    [tenantId, pgArray(groupIds)],
  );
  for (const r of rows) out.set(r.group_id, [...(out.get(r.group_id) ?? []), { id: r.id, userName: r.email }]);
  return out;
}

function fromRow(r: GroupRow, members: Map<string, Array<{ id: string; userName: string }>> | undefined) {
  return {
    id: r.id,
    displayName: r.display_name,
    externalId: r.external_id ?? undefined,
    members: members && (members.get(r.id) ?? []),
    createdAt: toDate(r.created_at),
    modifiedAt: toDate(r.modified_at),
  };
}

/** One page of the tenant's groups matching `where` (SQL over `r`), oldest first, with the total. */
export async function listGroups(
  em: TxEntityManager,
  tenantId: string,
  where: { sql: string; params: unknown[] },
  offset: number,
  limit: number,
  withMembers: boolean,
): Promise<{ groups: GroupRecord[]; total: number }> {
  const rows = await query<GroupRow & { total: number }>(
    em,
    `select r.*, count(*) over ()::int as total from ${GROUPS_RELATION}
     where ${where.sql} order by r.created_at, r.id offset ? limit ?`,
    [tenantId, ...where.params, offset, limit],
  );
  let total = rows[0]?.total ?? 0;
  if (rows.length === 0 && offset > 0) {
    const count = await queryOne<{ n: number }>(
      em,
      `select count(*)::int as n from ${GROUPS_RELATION} where ${where.sql}`,
      [tenantId, ...where.params],
    );
    total = count?.n ?? 0;
  }
  const members = withMembers
    ? await membersOf(
        em,
        tenantId,
        rows.map((r) => r.id),
      )
    : undefined;
  return { groups: rows.map((r) => fromRow(r, members)), total };
}

/** One group of the tenant (row-locked with `lock`). */
export async function groupById(
  em: TxEntityManager,
  tenantId: string,
  id: string,
  lock = false,
): Promise<GroupRecord | undefined> {
  const row = await queryOne<GroupRow>(
    em,
    `select id, display_name, external_id, created_at, updated_at as modified_at from scim_groups
     where tenant_id = ? and id = ?::uuid${lock ? " for update" : ""}`,
    [tenantId, id],
  );
  return row && fromRow(row, await membersOf(em, tenantId, [row.id]));
}

async function requireUniqueName(em: TxEntityManager, tenantId: string, name: string, exceptId: string) {
  await query(em, "select pg_advisory_xact_lock(hashtext(?))", [`scim-groups:${tenantId}`]);
  const taken = await queryOne(
    em,
    "select 1 from scim_groups where tenant_id = ? and lower(display_name) = lower(?) and id <> ?::uuid",
    [tenantId, name, exceptId],
  );
  if (taken) throw new AlreadyExists("a group with that displayName exists");
}

async function requireVisibleUsers(em: TxEntityManager, tenantId: string, ids: readonly string[]) {
  if (ids.length === 0) return;
  const found = await query<{ user_id: string }>(
    em,
    `select user_id from memberships where tenant_id = ? and user_id = any(?::uuid[])
     union select user_id from scim_users where tenant_id = ? and user_id = any(?::uuid[])`,
    [tenantId, pgArray(ids), tenantId, pgArray(ids)],
  );
  const known = new Set(found.map((r) => r.user_id));
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new InvalidArgument(`members: no user of this tenant with id ${unknown.slice(0, 3).join(", ")}`, [
      { field: "members", message: "unknown user" },
    ]);
  }
}

async function report(
  em: TxEntityManager,
  verb: "created" | "updated" | "deleted",
  group: { id: string; displayName: string },
  added: string[],
  removed: string[],
) {
  let first = true;
  for (let i = 0; first || i < Math.max(added.length, removed.length); i += IDS_PER_EVENT) {
    await scimGroupChanged(
      em,
      first ? verb : "updated",
      group,
      added.slice(i, i + IDS_PER_EVENT),
      removed.slice(i, i + IDS_PER_EVENT),
    );
    first = false;
  }
}

/** Creates a group with members (users of this tenant); their roles follow the mapping. */
export async function createGroup(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  input: GroupInput,
): Promise<string> {
  const id = randomUUID();
  await requireUniqueName(em, tenantId, input.displayName, id);
  const memberIds = [...new Set(input.memberIds)];
  await requireVisibleUsers(em, tenantId, memberIds);
  await query(em, "insert into scim_groups (id, tenant_id, display_name, external_id) values (?, ?, ?, ?)", [
    id,
    tenantId,
    input.displayName,
    input.externalId ?? null,
  ]);
  await setMembers(em, tenantId, id, memberIds, []);
  await report(em, "created", { id, displayName: input.displayName }, memberIds, []);
  await applyGroupRoles(deps, em, tenantId, memberIds);
  return id;
}

async function setMembers(em: TxEntityManager, tenantId: string, id: string, add: string[], remove: string[]) {
  if (add.length > 0) {
    await query(
      em,
      `insert into scim_group_members (tenant_id, group_id, user_id)
       select ?, ?, unnest(?::uuid[]) on conflict do nothing`,
      [tenantId, id, pgArray(add)],
    );
  }
  if (remove.length > 0) {
    await query(
      em,
      "delete from scim_group_members where tenant_id = ? and group_id = ? and user_id = any(?::uuid[])",
      [tenantId, id, pgArray(remove)],
    );
  }
}

/** Writes a group's new state (PUT, or PATCH after applying the operations). */
export async function updateGroup(
  deps: IdentityDeps,
  em: TxEntityManager,
  tenantId: string,
  current: GroupRecord,
  next: GroupInput,
): Promise<void> {
  if (next.displayName !== current.displayName) await requireUniqueName(em, tenantId, next.displayName, current.id);
  const before = new Set((current.members ?? []).map((m) => m.id));
  const after = new Set(next.memberIds);
  const added = [...after].filter((id) => !before.has(id));
  const removed = [...before].filter((id) => !after.has(id));
  await requireVisibleUsers(em, tenantId, added);
  await query(
    em,
    "update scim_groups set display_name = ?, external_id = ?, updated_at = now() where tenant_id = ? and id = ?",
    [next.displayName, next.externalId ?? null, tenantId, current.id],
  );
  await setMembers(em, tenantId, current.id, added, removed);
  await report(em, "updated", { id: current.id, displayName: next.displayName }, added, removed);
  const renamed = next.displayName !== current.displayName || next.externalId !== current.externalId;
  await applyGroupRoles(deps, em, tenantId, renamed ? [...before, ...added] : [...added, ...removed]);
}

/** Deletes a group; its former members' roles follow the mapping. */
export async function deleteGroup(deps: IdentityDeps, em: TxEntityManager, tenantId: string, id: string) {
  const current = await groupById(em, tenantId, id, true);
  if (!current) throw new NotFound("group not found");
  await query(em, "delete from scim_groups where tenant_id = ? and id = ?", [tenantId, id]);
  await report(
    em,
    "deleted",
    current,
    [],
    (current.members ?? []).map((m) => m.id),
  );
  await applyGroupRoles(
    deps,
    em,
    tenantId,
    (current.members ?? []).map((m) => m.id),
  );
}
