import { create } from "@bufbuild/protobuf";
import type { TxEntityManager } from "@tessera/platform/db";
import { enqueueEvent } from "@tessera/platform/events";
import { CommentEventSchema } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { commentToProto } from "../contract.ts";
import type { CommentView } from "../domain/model.ts";

/**
 * Enqueues `comment.added` (payload CommentEvent) in the transaction that stored the comment. The
 * aggregate is the task the comment belongs to, so a task's comments are ordered with its events.
 */
export async function publishCommentAdded(em: TxEntityManager, comment: CommentView): Promise<void> {
  await enqueueEvent(em, {
    type: "comment.added",
    aggregateId: comment.taskId,
    schema: CommentEventSchema,
    payload: create(CommentEventSchema, { comment: commentToProto(comment) }),
  });
}
