import { LockMode } from "@mikro-orm/core";
import { type TxEntityManager, withTenantTransaction } from "@tessera/platform/db";
import { InvalidArgument, NotFound } from "@tessera/platform/errors";
import { publishTaskEvent } from "../events/publish-task-event.ts";
import { authorize } from "./access.ts";
import type { ProjectsDeps } from "./deps.ts";
import { Task, type TaskRow } from "./entities.ts";
import { TASK_NOT_FOUND, type TaskView } from "./model.ts";
import { positionAfter, positionBetween, renumber } from "./positions.ts";
import { findProject } from "./projects.ts";
import { checkVersion, taskView } from "./rules.ts";
import { findTask } from "./tasks.ts";

function badBefore(message: string): InvalidArgument {
  return new InvalidArgument("bad before_task_id", [{ field: "before_task_id", message }]);
}

/** The task right before (position, id) in the project, if any. */
function predecessor(em: TxEntityManager, projectId: string, of: TaskRow): Promise<TaskRow | null> {
  return em.findOne(
    Task,
    { projectId, $or: [{ position: { $lt: of.position } }, { position: of.position, id: { $lt: of.id } }] },
    { orderBy: { position: "desc", id: "desc" } },
  );
}

/**
 * Where the task goes: right before `beforeId`, or last. Undefined when it is already there.
 * Renumbers the project when the gap is used up.
 */
async function newPosition(
  deps: ProjectsDeps,
  em: TxEntityManager,
  task: TaskRow,
  beforeId: string | undefined,
): Promise<number | undefined> {
  const projectId = task.projectId;
  if (beforeId === undefined) {
    const last = await em.findOne(Task, { projectId }, { orderBy: { position: "desc", id: "desc" } });
    return !last || last.id === task.id ? undefined : positionAfter(last.position);
  }
  // one answer for a missing task, another tenant's task and another project's task
  const before = await em.findOne(Task, { id: beforeId, projectId });
  if (!before) throw badBefore("must name another task of the same project");
  const prev = await predecessor(em, projectId, before);
  if (prev?.id === task.id) return undefined;
  const position = positionBetween(prev?.position, before.position);
  if (position !== undefined) return position;
  const renumbered = await renumber(em, projectId, task.id);
  deps.logger.info({ project_id: projectId, tasks: renumbered }, "task positions renumbered");
  // renumber refreshed `prev` and `before` in place (one identity map)
  return positionBetween(prev?.position, before.position);
}

/**
 * Moves a task right before another task of the same project, or to the end (`beforeId`
 * undefined); `expectedVersion` > 0: only at that version. A move bumps the version and enqueues
 * `task.moved`; a task already in place changes nothing. Before-task ids that are not tasks of the
 * same project (missing, another project's, another tenant's) are InvalidArgument on
 * `before_task_id`, all with the same message. Moves and creations in one project are serialised
 * by the project's row lock (taken before any task lock, the order every path uses).
 */
export async function moveTask(
  deps: ProjectsDeps,
  id: string,
  beforeId: string | undefined,
  expectedVersion: number,
): Promise<TaskView> {
  authorize("tasks.write");
  const taskId = id.toLowerCase();
  const before = beforeId?.toLowerCase();
  if (before === taskId) throw badBefore("cannot be the task itself");
  return withTenantTransaction(deps.orm, async (em) => {
    const { projectId } = await findTask(em, taskId);
    await findProject(em, projectId, true);
    const task = await em.findOne(Task, { id: taskId }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!task) throw new NotFound(TASK_NOT_FOUND);
    checkVersion("task", task.version, expectedVersion);
    const position = await newPosition(deps, em, task, before);
    if (position === undefined) return taskView(task);
    task.position = position;
    task.version += 1;
    await em.flush();
    const view = taskView(task);
    await publishTaskEvent(em, "task.moved", view);
    return view;
  });
}
