import { isMessage } from "@bufbuild/protobuf";
import { type Task, TaskSchema, TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { builder } from "../builder.ts";
import type { GatewayContext } from "../context.ts";
import { loadFirstPage } from "../first-pages.ts";
import { parseGlobalId, requireGlobalId } from "../global-id.ts";
import { type Connection, fetchConnection } from "../pagination.ts";
import {
  connectionComplexity,
  DateScalar,
  DateTime,
  definedEnum,
  pageArgs,
  QUOTA_WRITE_ERRORS,
  resultTypes,
  toDate,
} from "./common.ts";
import { ProjectRef } from "./project.ts";
import { UserRef } from "./user.ts";

const TASK_STATUSES = { TODO: TaskStatus.TODO, IN_PROGRESS: TaskStatus.IN_PROGRESS, DONE: TaskStatus.DONE };

/** Where a task stands (the contract's UNSPECIFIED is never shown). */
export const TaskStatusEnum = builder.enumType("TaskStatus", {
  values: {
    TODO: { value: TASK_STATUSES.TODO },
    IN_PROGRESS: { value: TASK_STATUSES.IN_PROGRESS },
    DONE: { value: TASK_STATUSES.DONE },
  },
});

/** A task of a project. Loaded through BatchGetTasks; other tenants' tasks are not visible. */
export const TaskRef = builder.loadableNode("Task", {
  description: "A task of a project.",
  id: { resolve: (task) => task.id },
  isTypeOf: (value) => isMessage(value, TaskSchema),
  load: async (ids: string[], ctx: GatewayContext): Promise<Task[]> =>
    (await ctx.rpc.tasks.batchGetTasks({ taskIds: ids })).tasks,
  sort: (task) => task.id,
  loaderOptions: { maxBatchSize: 500 },
  fields: (t) => ({
    title: t.exposeString("title"),
    description: t.exposeString("description"),
    status: t.field({
      type: TaskStatusEnum,
      // UNSPECIFIED is what the contract defaults to: TODO
      resolve: (task) => definedEnum(task.status || TaskStatus.TODO, TASK_STATUSES),
    }),
    labels: t.exposeStringList("labels"),
    dueDate: t.field({ type: DateScalar, nullable: true, resolve: (task) => task.dueDate || null }),
    position: t.exposeFloat("position", { description: "Sort key within the project (smaller first)." }),
    version: t.int({ resolve: (task) => Number(task.version) }),
    createdAt: t.field({ type: DateTime, resolve: (task) => toDate(task.createTime) }),
    updatedAt: t.field({ type: DateTime, resolve: (task) => toDate(task.updateTime) }),
    project: t.field({ type: ProjectRef, nullable: true, resolve: (task) => task.projectId }),
    assignee: t.field({
      type: UserRef,
      nullable: true,
      description: "Null when unassigned (or the assignee is no longer visible).",
      resolve: (task) => task.assigneeId || null,
    }),
  }),
});

/** `TaskConnection` / `TaskEdge`. */
export const TaskConnection = builder.connectionObject(
  { type: TaskRef, name: "TaskConnection", edgesNullable: false, nodeNullable: false },
  { name: "TaskEdge" },
);

const empty: Connection<Task> = {
  edges: [],
  pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
};

builder.objectField(ProjectRef, "tasks", (t) =>
  t.field({
    type: TaskConnection,
    description: "The project's tasks in position order, optionally filtered.",
    args: {
      ...pageArgs,
      status: t.arg({ type: TaskStatusEnum, required: false }),
      assigneeId: t.arg.id({ required: false, description: "A User id." }),
      label: t.arg.string({ required: false }),
    },
    complexity: connectionComplexity,
    resolve: async (project, args, ctx) => {
      let assigneeId = "";
      if (args.assigneeId != null) {
        const id = parseGlobalId(String(args.assigneeId), "User");
        // an id that names nobody matches no task
        if (id === undefined) return empty;
        assigneeId = id;
      }
      const filter = { status: args.status ?? TaskStatus.UNSPECIFIED, assigneeId, label: args.label ?? "" };
      const prime = (tasks: readonly Task[]) => {
        const loader = TaskRef.getDataloader(ctx);
        for (const task of tasks) loader.prime(task.id, task);
      };
      return fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        if (!args.after) {
          // first pages of every project at this level: one BatchListTasks per 100 projects
          const key = { list: "Project.tasks", args: [filter.status, assigneeId, filter.label, pageSize] };
          return loadFirstPage(ctx, { ...key, parentId: project.id }, async (projectIds) => {
            const res = await ctx.rpc.tasks.batchListTasks({ projectIds, pageSize, ...filter });
            return res.projects.map((p) => {
              prime(p.tasks);
              return { parentId: p.projectId, items: p.tasks, nextPageToken: p.page?.nextPageToken ?? "" };
            });
          });
        }
        const res = await ctx.rpc.tasks.listTasks({ projectId: project.id, page: { pageToken, pageSize }, ...filter });
        prime(res.tasks);
        return { items: res.tasks, nextPageToken: res.page?.nextPageToken ?? "" };
      });
    },
  }),
);

builder.queryField("task", (t) =>
  t.field({
    type: TaskRef,
    nullable: true,
    description: "A task by id; null when it does not exist or is not visible.",
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args) => parseGlobalId(String(args.id), "Task") ?? null,
  }),
);

const CreateTaskInput = builder.inputType("CreateTaskInput", {
  fields: (t) => ({
    projectId: t.id({ required: true }),
    title: t.string({ required: true }),
    description: t.string({ required: false }),
    status: t.field({ type: TaskStatusEnum, required: false, description: "Default TODO." }),
    assigneeId: t.id({ required: false, description: "A User id." }),
    labels: t.stringList({ required: false }),
    dueDate: t.field({ type: DateScalar, required: false }),
  }),
});

const UpdateTaskInput = builder.inputType("UpdateTaskInput", {
  description: "Fields left out stay as they are; `assigneeId: null` unassigns, `dueDate: null` clears.",
  fields: (t) => ({
    id: t.id({ required: true }),
    title: t.string({ required: false }),
    description: t.string({ required: false }),
    status: t.field({ type: TaskStatusEnum, required: false }),
    assigneeId: t.id({ required: false }),
    labels: t.stringList({ required: false }),
    dueDate: t.field({ type: DateScalar, required: false }),
    expectedVersion: t.int({ required: false, description: "Apply only if the task is still at this version." }),
  }),
});

const MoveTaskInput = builder.inputType("MoveTaskInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    beforeTaskId: t.id({ required: false, description: "Place before this task; left out: move to the end." }),
    expectedVersion: t.int({ required: false }),
  }),
});

const DeleteTaskInput = builder.inputType("DeleteTaskInput", {
  fields: (t) => ({ id: t.id({ required: true }), expectedVersion: t.int({ required: false }) }),
});

/** A user id argument: unknown or malformed ids are refused like the service refuses unknown users. */
function userId(globalId: string | number | null | undefined): string {
  if (globalId == null) return "";
  return requireGlobalId(String(globalId), "User");
}

function task(res: { task?: Task | undefined }): Task {
  if (!res.task) throw new Error("projects answered without a task");
  return res.task;
}

const version = (v: number | null | undefined) => BigInt(v ?? 0);

builder.mutationFields((t) => ({
  createTask: t.field({
    type: TaskRef,
    description: "Adds a task to a project (members and above).",
    args: { input: t.arg({ type: CreateTaskInput, required: true }) },
    errors: resultTypes("CreateTask", "task", QUOTA_WRITE_ERRORS),
    resolve: async (_root, { input }, ctx) =>
      task(
        await ctx.rpc.tasks.createTask({
          projectId: requireGlobalId(String(input.projectId), "Project"),
          title: input.title,
          description: input.description ?? "",
          status: input.status ?? TaskStatus.UNSPECIFIED,
          assigneeId: userId(input.assigneeId),
          labels: input.labels ?? [],
          dueDate: input.dueDate ?? "",
        }),
      ),
  }),
  updateTask: t.field({
    type: TaskRef,
    description: "Changes the given fields of a task (members and above).",
    args: { input: t.arg({ type: UpdateTaskInput, required: true }) },
    errors: resultTypes("UpdateTask", "task", QUOTA_WRITE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const paths: string[] = [];
      if (input.title != null) paths.push("title");
      if (input.description != null) paths.push("description");
      if (input.status != null) paths.push("status");
      if (input.assigneeId !== undefined) paths.push("assignee_id");
      if (input.labels != null) paths.push("labels");
      if (input.dueDate !== undefined) paths.push("due_date");
      return task(
        await ctx.rpc.tasks.updateTask({
          taskId: requireGlobalId(String(input.id), "Task"),
          updateMask: { paths },
          title: input.title ?? "",
          description: input.description ?? "",
          status: input.status ?? TaskStatus.UNSPECIFIED,
          assigneeId: userId(input.assigneeId),
          labels: input.labels ?? [],
          dueDate: input.dueDate ?? "",
          expectedVersion: version(input.expectedVersion),
        }),
      );
    },
  }),
  moveTask: t.field({
    type: TaskRef,
    description: "Places a task before another task of its project, or last.",
    args: { input: t.arg({ type: MoveTaskInput, required: true }) },
    errors: resultTypes("MoveTask", "task"),
    resolve: async (_root, { input }, ctx) =>
      task(
        await ctx.rpc.tasks.moveTask({
          taskId: requireGlobalId(String(input.id), "Task"),
          beforeTaskId: input.beforeTaskId == null ? "" : requireGlobalId(String(input.beforeTaskId), "Task"),
          expectedVersion: version(input.expectedVersion),
        }),
      ),
  }),
  deleteTask: t.field({
    type: "ID",
    description: "Deletes a task; answers its id.",
    args: { input: t.arg({ type: DeleteTaskInput, required: true }) },
    errors: resultTypes("DeleteTask", "deletedTaskId"),
    resolve: async (_root, { input }, ctx) => {
      const taskId = requireGlobalId(String(input.id), "Task");
      await ctx.rpc.tasks.deleteTask({ taskId, expectedVersion: version(input.expectedVersion) });
      return String(input.id);
    },
  }),
}));
