import { type EntityDictionary, type FilterQuery, LockMode } from "@mikro-orm/core";
import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { FailedPrecondition, NotFound } from "@tessera/platform/errors";
import { publishTaskEvent } from "../events/publish-task-event.ts";
import { authorize } from "./access.ts";
import { batchRows, groupRows, pgUuids } from "./batch.ts";
import { decodeCursor, encodeCursor, isUuid, listKey } from "./cursor.ts";
import type { ProjectsDeps } from "./deps.ts";
import { Task, type TaskRow } from "./entities.ts";
import {
  type Page,
  type PageInput,
  type ParentPage,
  pageSize,
  TASK_NOT_FOUND,
  type TaskStatus,
  type TaskView,
} from "./model.ts";
import { positionAfter } from "./positions.ts";
import { findProject } from "./projects.ts";
import { enforceQuotas, textBytes } from "./quotas.ts";
import { checkVersion, inOrder, requireDate, requireText, taskView, uniqueIds } from "./rules.ts";

/** What CreateTask asks for, after the contract's shape checks. */
export interface NewTask {
  readonly projectId: string;
  readonly title: string;
  readonly description: string;
  readonly status: TaskStatus;
  readonly assigneeId: string | null;
  readonly labels: readonly string[];
  readonly dueDate: string | null;
}

/**
 * Adds a task at the end of its project and enqueues `task.created` (and `task.completed` when it
 * is created done). The project must exist in the caller's tenant (NotFound) and not be archived
 * (FailedPrecondition). The project row is locked, so concurrent creations get distinct positions.
 * Beyond the plan's `storage_bytes` quota, QuotaExceeded.
 */
export async function createTask(deps: ProjectsDeps, input: NewTask): Promise<TaskView> {
  const { tenantId } = authorize("tasks.write");
  requireText(input.title, "title");
  if (input.dueDate !== null) requireDate(input.dueDate, "due_date");
  const plan = await deps.quotaOf(tenantId);
  const task = await withTenantTransaction(deps.orm, async (em) => {
    const project = await findProject(em, input.projectId, true);
    if (project.archivedAt != null) {
      throw new FailedPrecondition("the project is archived", [
        { field: "project_id", message: "an archived project takes no new tasks" },
      ]);
    }
    const last = await em.findOne(Task, { projectId: project.id }, { orderBy: { position: "desc", id: "desc" } });
    const row = em.create(Task, {
      projectId: project.id,
      title: input.title,
      description: input.description,
      status: input.status,
      assigneeId: input.assigneeId?.toLowerCase() ?? null,
      labels: [...input.labels],
      dueDate: input.dueDate,
      position: positionAfter(last?.position),
      version: 1,
    });
    await em.flush();
    await enforceQuotas(em, tenantId, plan, { grewStorage: true });
    const view = taskView(row);
    await publishTaskEvent(em, "task.created", view);
    if (view.status === "done") await publishTaskEvent(em, "task.completed", view);
    return view;
  });
  deps.logger.info({ task_id: task.id, project_id: task.projectId }, "task created");
  return task;
}

/** The task (of the caller's tenant, locked when asked), or NotFound. */
export async function findTask(
  em: TxEntityManager,
  id: string,
  lock?: LockMode.PESSIMISTIC_WRITE | LockMode.PESSIMISTIC_READ,
): Promise<TaskRow> {
  const row = await em.findOne(Task, { id: id.toLowerCase() }, lock ? { lockMode: lock } : {});
  if (!row) throw new NotFound(TASK_NOT_FOUND);
  return row;
}

/** One task; NotFound when it does not exist in the caller's tenant. */
export async function getTask(deps: ProjectsDeps, id: string): Promise<TaskView> {
  authorize("tasks.read");
  return withTenantTransaction(deps.orm, async (em) => taskView(await findTask(em, id)));
}

/** Tasks by id in the order asked for (each once); ids not found in the caller's tenant are left out. */
export async function batchGetTasks(deps: ProjectsDeps, ids: readonly string[]): Promise<TaskView[]> {
  authorize("tasks.read");
  const wanted = uniqueIds(ids);
  const rows = await withTenantTransaction(deps.orm, (em) => em.find(Task, { id: { $in: wanted } }));
  return inOrder(wanted, rows.map(taskView));
}

/** Filters of ListTasks; undefined means any. */
export interface TaskFilter {
  readonly status?: TaskStatus | undefined;
  readonly assigneeId?: string | undefined;
  readonly label?: string | undefined;
}

function taskPosition(parts: unknown[]): { position: number; id: string } | undefined {
  const [position, id, ...rest] = parts;
  if (typeof position !== "number" || !Number.isFinite(position) || !isUuid(id) || rest.length > 0) return undefined;
  return { position, id };
}

/** The fingerprint of one project's filtered task list: what its page tokens are bound to. */
function tasksKey(tenantId: string, project: string, filter: TaskFilter): string {
  return listKey("tasks", tenantId, {
    project,
    status: filter.status ?? "",
    assignee: filter.assigneeId?.toLowerCase() ?? "",
    label: filter.label ?? "",
  });
}

/** A page of one project's tasks in position order, filtered; NotFound for a project not in the tenant. */
export async function listTasks(
  deps: ProjectsDeps,
  projectId: string,
  filter: TaskFilter,
  page: PageInput,
): Promise<Page<TaskView>> {
  const { tenantId } = authorize("tasks.read");
  const project = projectId.toLowerCase();
  const assignee = filter.assigneeId?.toLowerCase();
  const key = tasksKey(tenantId, project, filter);
  const after = page.token === "" ? undefined : decodeCursor(page.token, key, taskPosition);
  const size = pageSize(page);
  const where: FilterQuery<TaskRow> = {
    projectId: project,
    ...(filter.status && { status: filter.status }),
    ...(assignee && { assigneeId: assignee }),
    ...(filter.label && { labels: { $contains: [filter.label] } }),
    ...(after && {
      $or: [{ position: { $gt: after.position } }, { position: after.position, id: { $gt: after.id } }],
    }),
  };
  const rows = await withTenantTransaction(deps.orm, async (em) => {
    await findProject(em, project);
    return em.find(Task, where, { orderBy: { position: "asc", id: "asc" }, limit: size + 1 });
  });
  const shown = rows.slice(0, size);
  const last = shown.at(-1);
  return {
    items: shown.map(taskView),
    nextPageToken: rows.length > size && last ? encodeCursor([last.position, last.id], key) : "",
  };
}

/**
 * The first page of tasks of several projects, in one statement: per project exactly what
 * listTasks answers for the first page (same order, filters, page size and page token, so the
 * token continues with listTasks). Projects not found in the caller's tenant are left out; the
 * others come in the order asked for, each once.
 */
export async function batchListTasks(
  deps: ProjectsDeps,
  projectIds: readonly string[],
  filter: TaskFilter,
  page: Pick<PageInput, "size">,
): Promise<ParentPage<TaskView>[]> {
  const { tenantId } = authorize("tasks.read");
  const wanted = uniqueIds(projectIds);
  const size = pageSize({ size: page.size, token: "" });
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    conditions.push("and t.status = ?");
    params.push(filter.status);
  }
  if (filter.assigneeId) {
    conditions.push("and t.assignee_id = ?");
    params.push(filter.assigneeId.toLowerCase());
  }
  if (filter.label) {
    conditions.push("and t.labels @> array[?::text]");
    params.push(filter.label);
  }
  // one index range scan per project (tasks_order_idx), limited to a page and one more
  const statement = `select p.id as batch_parent_id, t.*
    from projects p
    left join lateral (
      select * from tasks t
      where t.tenant_id = p.tenant_id and t.project_id = p.id ${conditions.join(" ")}
      order by t.position, t.id
      limit ?
    ) t on true
    where p.tenant_id = ? and p.id = any(?::uuid[])
    order by p.id, t.position, t.id`;
  const pages = await withTenantTransaction(deps.orm, async (em) => {
    const rows = await batchRows(em, statement, [...params, size + 1, tenantId, pgUuids(wanted)]);
    return groupRows(rows, (row) => em.map(Task, row as EntityDictionary<TaskRow>));
  });
  return wanted.flatMap((id) => {
    const rows = pages.get(id);
    if (!rows) return [];
    const shown = rows.slice(0, size);
    const last = shown.at(-1);
    const key = tasksKey(tenantId, id, filter);
    return [
      {
        parentId: id,
        items: shown.map(taskView),
        nextPageToken: rows.length > size && last ? encodeCursor([last.position, last.id], key) : "",
      },
    ];
  });
}

/** Which fields UpdateTask changes (undefined: unchanged; null: cleared). */
export interface TaskChanges {
  readonly title?: string | undefined;
  readonly description?: string | undefined;
  readonly status?: TaskStatus | undefined;
  readonly assigneeId?: string | null | undefined;
  readonly labels?: readonly string[] | undefined;
  readonly dueDate?: string | null | undefined;
}

function sameLabels(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((l, i) => l === b[i]);
}

/** The stored text of a task, in bytes, as the storage quota counts it. */
function taskBytes(row: TaskRow): number {
  return textBytes(row.title, row.description, row.labels.join(","));
}

/** Applies the changes to the row; returns the contract names of the fields that really changed. */
function apply(row: TaskRow, changes: TaskChanges): string[] {
  const changed: string[] = [];
  if (changes.title !== undefined && changes.title !== row.title) {
    row.title = changes.title;
    changed.push("title");
  }
  if (changes.description !== undefined && changes.description !== row.description) {
    row.description = changes.description;
    changed.push("description");
  }
  if (changes.status !== undefined && changes.status !== row.status) {
    row.status = changes.status;
    changed.push("status");
  }
  const assignee = changes.assigneeId === undefined ? undefined : (changes.assigneeId?.toLowerCase() ?? null);
  if (assignee !== undefined && assignee !== (row.assigneeId ?? null)) {
    row.assigneeId = assignee;
    changed.push("assignee_id");
  }
  if (changes.labels !== undefined && !sameLabels(changes.labels, row.labels)) {
    row.labels = [...changes.labels];
    changed.push("labels");
  }
  if (changes.dueDate !== undefined && changes.dueDate !== (row.dueDate ?? null)) {
    row.dueDate = changes.dueDate;
    changed.push("due_date");
  }
  return changed;
}

/**
 * Changes a task's fields (`expectedVersion` > 0: only at that version). A change bumps the version
 * and enqueues `task.updated` with the changed fields, plus `task.completed` when the status
 * became done; values equal to the current ones change nothing and publish nothing.
 */
export async function updateTask(
  deps: ProjectsDeps,
  id: string,
  changes: TaskChanges,
  expectedVersion: number,
): Promise<TaskView> {
  const { tenantId } = authorize("tasks.write");
  if (changes.title !== undefined) requireText(changes.title, "title");
  if (changes.dueDate != null) requireDate(changes.dueDate, "due_date");
  const plan = await deps.quotaOf(tenantId);
  return withTenantTransaction(deps.orm, async (em) => {
    const row = await findTask(em, id, LockMode.PESSIMISTIC_WRITE);
    checkVersion("task", row.version, expectedVersion);
    const bytesBefore = taskBytes(row);
    const changed = apply(row, changes);
    if (changed.length === 0) return taskView(row);
    row.version += 1;
    await em.flush();
    await enforceQuotas(em, tenantId, plan, { grewStorage: taskBytes(row) > bytesBefore });
    const view = taskView(row);
    await publishTaskEvent(em, "task.updated", view, changed);
    if (changed.includes("status") && view.status === "done") await publishTaskEvent(em, "task.completed", view);
    return view;
  });
}

/** Deletes a task and its comments (`expectedVersion` > 0: only at that version); `task.deleted` carries it as it was. */
export async function deleteTask(deps: ProjectsDeps, id: string, expectedVersion: number): Promise<void> {
  authorize("tasks.write");
  const task = await withTenantTransaction(deps.orm, async (em) => {
    const row = await findTask(em, id, LockMode.PESSIMISTIC_WRITE);
    checkVersion("task", row.version, expectedVersion);
    const view = taskView(row);
    em.remove(row);
    await em.flush();
    await publishTaskEvent(em, "task.deleted", view);
    return view;
  });
  deps.logger.info({ task_id: task.id, project_id: task.projectId }, "task deleted");
}
