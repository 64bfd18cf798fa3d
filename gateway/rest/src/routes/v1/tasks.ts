import type { Client } from "@connectrpc/connect";
import { type Task, type TaskService, TaskStatus } from "@tessera/proto/tessera/projects/v1/projects_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { etagOf, expectedVersionOf } from "../../etag.ts";
import { requiresScope } from "../../openapi.ts";
import {
  apiRoute,
  changeHeaders,
  createChangeHeaders,
  createHeaders,
  createRoute,
  isoTime,
  listOf,
  nextCursor,
  pageQuery,
  pageRequest,
  pathId,
  problemResponses,
  readHeaders,
  timestamp,
  uuid,
  withEtag,
} from "./common.ts";

const STATUSES = ["todo", "in_progress", "done"] as const;
type StatusName = (typeof STATUSES)[number];
const toContract: Record<StatusName, TaskStatus> = {
  todo: TaskStatus.TODO,
  in_progress: TaskStatus.IN_PROGRESS,
  done: TaskStatus.DONE,
};
function statusName(status: TaskStatus): StatusName {
  if (status === TaskStatus.IN_PROGRESS) return "in_progress";
  if (status === TaskStatus.DONE) return "done";
  return "todo";
}

const status = z.enum(STATUSES);
const label = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be 1–32 of a-z, 0-9, _ and -, starting with a letter or digit");

/** A task as the REST API shows it. */
export const TaskSchema = z
  .object({
    id: z.string(),
    project_id: z.string(),
    title: z.string(),
    description: z.string(),
    status,
    assignee_id: z.string().nullable().describe("User id of the assignee; null when unassigned"),
    labels: z.array(z.string()),
    due_date: z.string().nullable().describe("Calendar date (YYYY-MM-DD); null when none"),
    position: z.number().describe("Sort key within the project (smaller first)"),
    created_at: timestamp(),
    updated_at: timestamp(),
    version: z.int().describe("Changes on every update; the ETag is derived from it"),
  })
  .meta({ id: "Task" });

type TaskView = z.infer<typeof TaskSchema>;

/** The contract's task as the REST representation. */
export function taskView(t: Task | undefined): TaskView {
  if (!t) throw new Error("projects answered without a task");
  return {
    id: t.id,
    project_id: t.projectId,
    title: t.title,
    description: t.description,
    status: statusName(t.status),
    assignee_id: t.assigneeId === "" ? null : t.assigneeId,
    labels: [...t.labels],
    due_date: t.dueDate === "" ? null : t.dueDate,
    position: t.position,
    created_at: isoTime(t.createTime),
    updated_at: isoTime(t.updateTime),
    version: Number(t.version),
  };
}

const title = z.string().min(1).max(500);
const description = z.string().max(20_000);
const labels = z
  .array(label)
  .max(20)
  .refine((l) => new Set(l).size === l.length, "labels must be unique");
const dueDate = z.iso.date("must be a date (YYYY-MM-DD)");

const CreateTaskBody = z.strictObject({
  title,
  description: description.optional(),
  status: status.optional().describe("Default todo"),
  assignee_id: uuid().nullable().optional(),
  labels: labels.optional(),
  due_date: dueDate.nullable().optional(),
});

const UpdateTaskBody = z
  .strictObject({
    title: title.optional(),
    description: description.optional(),
    status: status.optional(),
    assignee_id: uuid().nullable().optional().describe("null unassigns"),
    labels: labels.optional(),
    due_date: dueDate.nullable().optional().describe("null clears"),
  })
  .refine((b) => Object.keys(b).length > 0, "give at least one field to change");

const MoveTaskBody = z.strictObject({
  before_task_id: uuid()
    .nullable()
    .optional()
    .describe("Place before this task of the same project; null or absent: last"),
});

const projectParams = z.object({ projectId: z.string().describe("Project id (UUID)") });
const taskParams = z.object({ taskId: z.string().describe("Task id (UUID)") });

/** /v1/projects/{id}/tasks and /v1/tasks/{id}: list with filters, create, read, update, move, delete. */
export function taskRoutes(app: FastifyInstance, tasks: Client<typeof TaskService>): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ["tasks"];

  r.get(
    "/v1/projects/:projectId/tasks",
    {
      config: apiRoute,
      schema: {
        operationId: "listTasks",
        security: requiresScope("tasks.read"),
        summary: "List a project's tasks (position order), with filters",
        tags,
        params: projectParams,
        querystring: z.object({
          ...pageQuery,
          status: status.optional(),
          assignee_id: uuid().optional(),
          label: label.optional(),
        }),
        response: { 200: listOf(TaskSchema, "TaskList"), ...problemResponses(400, 403, 404) },
      },
    },
    async (req) => {
      const q = req.query;
      const res = await tasks.listTasks({
        projectId: pathId(req.params.projectId),
        page: pageRequest(q),
        status: q.status ? toContract[q.status] : TaskStatus.UNSPECIFIED,
        assigneeId: q.assignee_id?.toLowerCase() ?? "",
        label: q.label ?? "",
      });
      return { data: res.tasks.map(taskView), next_cursor: nextCursor(res.page) };
    },
  );

  r.post(
    "/v1/projects/:projectId/tasks",
    {
      config: createRoute,
      schema: {
        operationId: "createTask",
        security: requiresScope("tasks.write"),
        summary: "Create a task in a project",
        tags,
        params: projectParams,
        headers: createHeaders,
        body: CreateTaskBody,
        response: { 201: TaskSchema, ...problemResponses(400, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const res = await tasks.createTask({
        projectId: pathId(req.params.projectId),
        title: b.title,
        description: b.description ?? "",
        status: b.status ? toContract[b.status] : TaskStatus.UNSPECIFIED,
        assigneeId: b.assignee_id?.toLowerCase() ?? "",
        labels: b.labels ?? [],
        dueDate: b.due_date ?? "",
      });
      const view = taskView(res.task);
      reply.code(201).header("location", `/v1/tasks/${view.id}`).header("etag", etagOf(view.version));
      return view;
    },
  );

  r.get(
    "/v1/tasks/:taskId",
    {
      config: apiRoute,
      schema: {
        operationId: "getTask",
        security: requiresScope("tasks.read"),
        summary: "Get a task",
        tags,
        params: taskParams,
        headers: readHeaders,
        "x-tessera-etag": true,
        response: { 200: TaskSchema, ...problemResponses(403, 404) },
      },
    },
    async (req, reply) => {
      const view = taskView((await tasks.getTask({ taskId: pathId(req.params.taskId) })).task);
      return withEtag(req, reply, view.version, view);
    },
  );

  r.patch(
    "/v1/tasks/:taskId",
    {
      config: apiRoute,
      schema: {
        operationId: "updateTask",
        security: requiresScope("tasks.write"),
        summary: "Update a task",
        tags,
        params: taskParams,
        headers: changeHeaders,
        body: UpdateTaskBody,
        response: { 200: TaskSchema, ...problemResponses(400, 403, 404, 409, 412, 413, 415) },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const res = await tasks.updateTask({
        taskId: pathId(req.params.taskId),
        updateMask: { paths: Object.keys(b) },
        title: b.title ?? "",
        description: b.description ?? "",
        status: b.status ? toContract[b.status] : TaskStatus.UNSPECIFIED,
        assigneeId: b.assignee_id?.toLowerCase() ?? "",
        labels: b.labels ?? [],
        dueDate: b.due_date ?? "",
        expectedVersion: expectedVersionOf(req.headers["if-match"]),
      });
      const view = taskView(res.task);
      reply.header("etag", etagOf(view.version));
      return view;
    },
  );

  r.post(
    "/v1/tasks/:taskId/move",
    {
      config: createRoute,
      schema: {
        operationId: "moveTask",
        security: requiresScope("tasks.write"),
        summary: "Move a task before another one of its project (or last)",
        tags,
        params: taskParams,
        headers: createChangeHeaders,
        body: MoveTaskBody,
        response: { 200: TaskSchema, ...problemResponses(400, 403, 404, 409, 412, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const before = req.body.before_task_id;
      const res = await tasks.moveTask({
        taskId: pathId(req.params.taskId),
        beforeTaskId: before ? before.toLowerCase() : "",
        expectedVersion: expectedVersionOf(req.headers["if-match"]),
      });
      const view = taskView(res.task);
      reply.header("etag", etagOf(view.version));
      return view;
    },
  );

  r.delete(
    "/v1/tasks/:taskId",
    {
      config: apiRoute,
      schema: {
        operationId: "deleteTask",
        security: requiresScope("tasks.write"),
        summary: "Delete a task",
        tags,
        params: taskParams,
        headers: changeHeaders,
        response: { 204: z.undefined().describe("Deleted"), ...problemResponses(403, 404, 412) },
      },
    },
    async (req, reply) => {
      await tasks.deleteTask({
        taskId: pathId(req.params.taskId),
        expectedVersion: expectedVersionOf(req.headers["if-match"]),
      });
      return reply.code(204).send();
    },
  );
}
