import type { ServiceImpl } from "@connectrpc/connect";
import { InvalidArgument } from "@tessera/platform/errors";
import type { TaskService, TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { statusFromProto, taskToProto } from "../contract.ts";
import { moveTask } from "../domain/moves.ts";
import {
  batchGetTasks,
  batchListTasks,
  createTask,
  deleteTask,
  getTask,
  listTasks,
  type TaskFilter,
  updateTask,
} from "../domain/tasks.ts";
import { type HandlerDeps, maskPaths, pageOf, versionOf } from "./context.ts";

type Impl = ServiceImpl<typeof TaskService>;

const UPDATABLE = ["title", "description", "status", "assignee_id", "labels", "due_date"] as const;

/** The filters of ListTasks and BatchListTasks. */
function filterOf(req: { status: TaskStatus; assigneeId: string; label: string }): TaskFilter {
  return {
    status: statusFromProto(req.status),
    assigneeId: req.assigneeId || undefined,
    label: req.label || undefined,
  };
}

/**
 * TaskService's task RPCs: CreateTask, GetTask, BatchGetTasks, ListTasks, BatchListTasks,
 * UpdateTask, MoveTask, DeleteTask.
 */
export function taskHandlers(
  deps: HandlerDeps,
): Pick<
  Impl,
  "createTask" | "getTask" | "batchGetTasks" | "listTasks" | "batchListTasks" | "updateTask" | "moveTask" | "deleteTask"
> {
  return {
    async createTask(req) {
      const task = await createTask(deps, {
        projectId: req.projectId,
        title: req.title,
        description: req.description,
        status: statusFromProto(req.status) ?? "todo",
        assigneeId: req.assigneeId || null,
        labels: req.labels,
        dueDate: req.dueDate || null,
      });
      return { task: taskToProto(task) };
    },
    async getTask(req) {
      return { task: taskToProto(await getTask(deps, req.taskId)) };
    },
    async batchGetTasks(req) {
      return { tasks: (await batchGetTasks(deps, req.taskIds)).map(taskToProto) };
    },
    async listTasks(req) {
      const page = await listTasks(deps, req.projectId, filterOf(req), pageOf(req.page));
      return { tasks: page.items.map(taskToProto), page: { nextPageToken: page.nextPageToken } };
    },
    async batchListTasks(req) {
      const pages = await batchListTasks(deps, req.projectIds, filterOf(req), { size: req.pageSize });
      return {
        projects: pages.map((p) => ({
          projectId: p.parentId,
          tasks: p.items.map(taskToProto),
          page: { nextPageToken: p.nextPageToken },
        })),
      };
    },
    async updateTask(req) {
      const mask = maskPaths(req.updateMask?.paths, UPDATABLE);
      const status = mask.has("status") ? statusFromProto(req.status) : undefined;
      if (mask.has("status") && status === undefined) {
        throw new InvalidArgument("status is required", [
          { field: "status", message: "must be TODO, IN_PROGRESS or DONE when update_mask names it" },
        ]);
      }
      const task = await updateTask(
        deps,
        req.taskId,
        {
          title: mask.has("title") ? req.title : undefined,
          description: mask.has("description") ? req.description : undefined,
          status,
          assigneeId: mask.has("assignee_id") ? req.assigneeId || null : undefined,
          labels: mask.has("labels") ? req.labels : undefined,
          dueDate: mask.has("due_date") ? req.dueDate || null : undefined,
        },
        versionOf(req.expectedVersion),
      );
      return { task: taskToProto(task) };
    },
    async moveTask(req) {
      const task = await moveTask(deps, req.taskId, req.beforeTaskId || undefined, versionOf(req.expectedVersion));
      return { task: taskToProto(task) };
    },
    async deleteTask(req) {
      await deleteTask(deps, req.taskId, versionOf(req.expectedVersion));
      return {};
    },
  };
}
