import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { TaskEventSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { taskToProto } from "../contract.ts";
import type { TaskView } from "../domain/model.ts";

/** Every task event; subject `tessera.evt.<tenantId>.<type>`, payload TaskEvent. */
export const TASK_EVENT_TYPES = [
  "task.created",
  "task.updated",
  "task.completed",
  "task.moved",
  "task.deleted",
] as const;
/** One of {@link TASK_EVENT_TYPES}. */
export type TaskEventType = (typeof TASK_EVENT_TYPES)[number];

/**
 * Enqueues a task event in the transaction of the change: the task after the change (for
 * `task.deleted`, as it was), and for `task.updated` the contract names of the fields that changed.
 */
export async function publishTaskEvent(
  em: TxEntityManager,
  type: TaskEventType,
  task: TaskView,
  changedFields: readonly string[] = [],
): Promise<void> {
  await enqueueEvent(em, {
    type,
    aggregateId: task.id,
    schema: TaskEventSchema,
    payload: create(TaskEventSchema, { task: taskToProto(task), changedFields: [...changedFields] }),
  });
}
