import { type FilterQuery, LockMode } from "@mikro-orm/core";
import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { AlreadyExists, NotFound } from "@tessera/platform/errors";
import { publishProjectEvent } from "../events/publish-project-event.ts";
import { authorize } from "./access.ts";
import { decodeCursor, encodeCursor, listKey } from "./cursor.ts";
import type { ProjectsDeps } from "./deps.ts";
import { Project, type ProjectRow } from "./entities.ts";
import { type Page, type PageInput, PROJECT_NOT_FOUND, type ProjectView, pageSize } from "./model.ts";
import { enforceQuotas, textBytes } from "./quotas.ts";
import { checkVersion, inOrder, projectView, requireText, uniqueConstraint, uniqueIds } from "./rules.ts";

/** What CreateProject asks for, after the contract's shape checks. */
export interface NewProject {
  readonly key: string;
  readonly name: string;
  readonly description: string;
}

/**
 * Creates a project and enqueues `project.created`; a key the tenant already uses is AlreadyExists
 * on `key`; beyond the plan's `projects` (active projects) or `storage_bytes` quota, QuotaExceeded.
 */
export async function createProject(deps: ProjectsDeps, input: NewProject): Promise<ProjectView> {
  const { tenantId } = authorize("projects.write");
  requireText(input.name, "name");
  const plan = await deps.quotaOf(tenantId);
  try {
    const project = await withTenantTransaction(deps.orm, async (em) => {
      const row = em.create(Project, {
        key: input.key,
        name: input.name,
        description: input.description,
        archivedAt: null,
        version: 1,
      });
      await em.flush();
      await enforceQuotas(em, tenantId, plan, { addedProject: true, grewStorage: true });
      const view = projectView(row);
      await publishProjectEvent(em, "project.created", view);
      return view;
    });
    deps.logger.info({ project_id: project.id }, "project created");
    return project;
  } catch (err) {
    if (uniqueConstraint(err) === "projects_tenant_key_unique") {
      throw new AlreadyExists("project key taken", [
        { field: "key", message: `the key ${input.key} is already used by another project` },
      ]);
    }
    throw err;
  }
}

/** The project (of the caller's tenant, locked for update when `lock`), or NotFound. */
export async function findProject(em: TxEntityManager, id: string, lock = false): Promise<ProjectRow> {
  const row = await em.findOne(Project, { id: id.toLowerCase() }, lock ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  if (!row) throw new NotFound(PROJECT_NOT_FOUND);
  return row;
}

/** One project; NotFound when it does not exist in the caller's tenant. */
export async function getProject(deps: ProjectsDeps, id: string): Promise<ProjectView> {
  authorize("projects.read");
  return withTenantTransaction(deps.orm, async (em) => projectView(await findProject(em, id)));
}

/** Projects by id in the order asked for (each once); ids not found in the caller's tenant are left out. */
export async function batchGetProjects(deps: ProjectsDeps, ids: readonly string[]): Promise<ProjectView[]> {
  authorize("projects.read");
  const wanted = uniqueIds(ids);
  const rows = await withTenantTransaction(deps.orm, (em) => em.find(Project, { id: { $in: wanted } }));
  return inOrder(wanted, rows.map(projectView));
}

/** A page of projects in key order; archived ones only when asked for. */
export async function listProjects(
  deps: ProjectsDeps,
  filter: { readonly includeArchived: boolean },
  page: PageInput,
): Promise<Page<ProjectView>> {
  const { tenantId } = authorize("projects.read");
  const key = listKey("projects", tenantId, { archived: filter.includeArchived ? "with" : "without" });
  const after =
    page.token === ""
      ? undefined
      : decodeCursor(page.token, key, ([k, ...rest]) => (typeof k === "string" && rest.length === 0 ? k : undefined));
  const size = pageSize(page);
  const where: FilterQuery<ProjectRow> = {
    ...(!filter.includeArchived && { archivedAt: null }),
    ...(after !== undefined && { key: { $gt: after } }),
  };
  const rows = await withTenantTransaction(deps.orm, (em) =>
    em.find(Project, where, { orderBy: { key: "asc" }, limit: size + 1 }),
  );
  const shown = rows.slice(0, size);
  const last = shown.at(-1);
  return {
    items: shown.map(projectView),
    nextPageToken: rows.length > size && last ? encodeCursor([last.key], key) : "",
  };
}

/** Which fields UpdateProject changes (undefined: unchanged). */
export interface ProjectChanges {
  readonly name?: string | undefined;
  readonly description?: string | undefined;
}

/**
 * Changes name and/or description (`expectedVersion` > 0: only at that version). A change bumps the
 * version and enqueues `project.updated`; values equal to the current ones change nothing.
 */
export async function updateProject(
  deps: ProjectsDeps,
  id: string,
  changes: ProjectChanges,
  expectedVersion: number,
): Promise<ProjectView> {
  const { tenantId } = authorize("projects.write");
  if (changes.name !== undefined) requireText(changes.name, "name");
  const plan = await deps.quotaOf(tenantId);
  return withTenantTransaction(deps.orm, async (em) => {
    const row = await findProject(em, id, true);
    checkVersion("project", row.version, expectedVersion);
    const bytesBefore = textBytes(row.name, row.description);
    let changed = false;
    if (changes.name !== undefined && changes.name !== row.name) {
      row.name = changes.name;
      changed = true;
    }
    if (changes.description !== undefined && changes.description !== row.description) {
      row.description = changes.description;
      changed = true;
    }
    if (!changed) return projectView(row);
    row.version += 1;
    await em.flush();
    await enforceQuotas(em, tenantId, plan, { grewStorage: textBytes(row.name, row.description) > bytesBefore });
    const view = projectView(row);
    await publishProjectEvent(em, "project.updated", view);
    return view;
  });
}

/**
 * Archives a project (admins and owners): it takes no new tasks from then on. Archiving an
 * archived project changes nothing and publishes nothing; otherwise `project.archived`.
 */
export async function archiveProject(deps: ProjectsDeps, id: string, expectedVersion: number): Promise<ProjectView> {
  authorize("projects.archive");
  const { project, archived } = await withTenantTransaction(deps.orm, async (em) => {
    const row = await findProject(em, id, true);
    checkVersion("project", row.version, expectedVersion);
    if (row.archivedAt != null) return { project: projectView(row), archived: false };
    row.archivedAt = new Date();
    row.version += 1;
    await em.flush();
    const view = projectView(row);
    await publishProjectEvent(em, "project.archived", view);
    return { project: view, archived: true };
  });
  if (archived) deps.logger.info({ project_id: project.id }, "project archived");
  return project;
}
