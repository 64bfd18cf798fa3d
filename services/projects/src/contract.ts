import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type Comment,
  CommentSchema,
  type Project,
  ProjectSchema,
  type Task,
  TaskSchema,
  TaskStatus,
} from "@tessera/proto/tessera/projects/v1/projects_pb";
import type { CommentView, TaskStatus as DomainStatus, ProjectView, TaskView } from "./domain/model.ts";

/** Domain statuses and their contract enum values. */
export const STATUS_TO_PROTO: Record<DomainStatus, TaskStatus> = {
  todo: TaskStatus.TODO,
  in_progress: TaskStatus.IN_PROGRESS,
  done: TaskStatus.DONE,
};

const STATUS_FROM_PROTO = new Map<TaskStatus, DomainStatus>(
  Object.entries(STATUS_TO_PROTO).map(([k, v]) => [v, k as DomainStatus]),
);

/** The domain status of a contract value; undefined for UNSPECIFIED (or an unknown number). */
export function statusFromProto(status: TaskStatus): DomainStatus | undefined {
  return STATUS_FROM_PROTO.get(status);
}

/** A project as the contract's Project. */
export function projectToProto(p: ProjectView): Project {
  return create(ProjectSchema, {
    id: p.id,
    name: p.name,
    key: p.key,
    description: p.description,
    archived: p.archived,
    createTime: timestampFromDate(p.createdAt),
    updateTime: timestampFromDate(p.updatedAt),
    version: BigInt(p.version),
  });
}

/** A task as the contract's Task. */
export function taskToProto(t: TaskView): Task {
  return create(TaskSchema, {
    id: t.id,
    projectId: t.projectId,
    title: t.title,
    description: t.description,
    status: STATUS_TO_PROTO[t.status],
    assigneeId: t.assigneeId ?? "",
    labels: [...t.labels],
    dueDate: t.dueDate ?? "",
    position: t.position,
    createTime: timestampFromDate(t.createdAt),
    updateTime: timestampFromDate(t.updatedAt),
    version: BigInt(t.version),
  });
}

/** A comment as the contract's Comment. */
export function commentToProto(c: CommentView): Comment {
  return create(CommentSchema, {
    id: c.id,
    taskId: c.taskId,
    authorId: c.authorId,
    body: c.body,
    createTime: timestampFromDate(c.createdAt),
  });
}
