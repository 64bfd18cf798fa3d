import { randomUUID } from "node:crypto";
import { defineEntity, type InferEntity, p } from "@mikro-orm/core";
import { tenantOwnedProperties, tenantScoped } from "@tessera/platform/db";
import type { TaskStatus } from "./model.ts";

/**
 * A tenant's project. `key` is unique per tenant; `version` starts at 1 and grows by one on every
 * change (the REST edge's ETag). Tenant-owned: the `tenant` filter and forced RLS apply.
 */
export const Project = defineEntity({
  name: "Project",
  tableName: "projects",
  ...tenantScoped(),
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    ...tenantOwnedProperties(),
    key: p.text(),
    name: p.text(),
    description: p.text(),
    archivedAt: p.datetime().nullable(),
    version: p.integer(),
  },
});
/** A row of `projects`. */
export type ProjectRow = InferEntity<typeof Project>;

/** A task of a project; ordered within it by `position` (smaller first). */
export const Task = defineEntity({
  name: "Task",
  tableName: "tasks",
  ...tenantScoped(),
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    ...tenantOwnedProperties(),
    projectId: p.uuid(),
    title: p.text(),
    description: p.text(),
    status: p.text().$type<TaskStatus>(),
    assigneeId: p.uuid().nullable(),
    labels: p.array(),
    dueDate: p.date().nullable(),
    position: p.double().$type<number>().runtimeType("number"),
    version: p.integer(),
  },
});
/** A row of `tasks`. */
export type TaskRow = InferEntity<typeof Task>;

/** A comment on a task; comments are never edited. */
export const Comment = defineEntity({
  name: "Comment",
  tableName: "comments",
  ...tenantScoped(),
  properties: {
    id: p
      .uuid()
      .primary()
      .onCreate(() => randomUUID()),
    ...tenantOwnedProperties(),
    taskId: p.uuid(),
    authorId: p.text(),
    body: p.text(),
  },
});
/** A row of `comments`. */
export type CommentRow = InferEntity<typeof Comment>;

/** Every entity of the projects database. */
export const entities = [Project, Task, Comment];
