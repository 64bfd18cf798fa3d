import type { Comment } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { builder } from "../builder.ts";
import { loadFirstPage } from "../first-pages.ts";
import { encodeGlobalId, requireGlobalId } from "../global-id.ts";
import { fetchConnection } from "../pagination.ts";
import { connectionComplexity, DateTime, pageArgs, QUOTA_WRITE_ERRORS, resultTypes, toDate } from "./common.ts";
import { TaskRef } from "./task.ts";
import { UserRef } from "./user.ts";

/** A comment on a task (not refetchable by id: there is no BatchGet for comments). */
export const CommentRef = builder.objectRef<Comment>("Comment").implement({
  description: "A comment on a task.",
  fields: (t) => ({
    id: t.id({ resolve: (comment) => encodeGlobalId("Comment", comment.id) }),
    body: t.exposeString("body"),
    createdAt: t.field({ type: DateTime, resolve: (comment) => toDate(comment.createTime) }),
    author: t.field({
      type: UserRef,
      nullable: true,
      description: "Null when written by an API key or the author is no longer visible.",
      resolve: (comment) => comment.authorId || null,
    }),
    task: t.field({ type: TaskRef, nullable: true, resolve: (comment) => comment.taskId }),
  }),
});

/** `CommentConnection` / `CommentEdge`. */
export const CommentConnection = builder.connectionObject(
  { type: CommentRef, name: "CommentConnection", edgesNullable: false, nodeNullable: false },
  { name: "CommentEdge" },
);

builder.objectField(TaskRef, "comments", (t) =>
  t.field({
    type: CommentConnection,
    description: "The task's comments, oldest first.",
    args: pageArgs,
    complexity: connectionComplexity,
    resolve: (task, args, ctx) =>
      fetchConnection(args, ctx.pages, async (pageToken, pageSize) => {
        if (!args.after) {
          // first pages of every task at this level: one BatchListComments per 100 tasks
          const key = { list: "Task.comments", args: [pageSize], parentId: task.id };
          return loadFirstPage(ctx, key, async (taskIds) => {
            const res = await ctx.rpc.tasks.batchListComments({ taskIds, pageSize });
            return res.tasks.map((t) => ({
              parentId: t.taskId,
              items: t.comments,
              nextPageToken: t.page?.nextPageToken ?? "",
            }));
          });
        }
        const res = await ctx.rpc.tasks.listComments({ taskId: task.id, page: { pageToken, pageSize } });
        return { items: res.comments, nextPageToken: res.page?.nextPageToken ?? "" };
      }),
  }),
);

const AddCommentInput = builder.inputType("AddCommentInput", {
  fields: (t) => ({
    taskId: t.id({ required: true }),
    body: t.string({ required: true }),
  }),
});

builder.mutationField("addComment", (t) =>
  t.field({
    type: CommentRef,
    description: "Comments on a task (members and above).",
    args: { input: t.arg({ type: AddCommentInput, required: true }) },
    errors: resultTypes("AddComment", "comment", QUOTA_WRITE_ERRORS),
    resolve: async (_root, { input }, ctx) => {
      const res = await ctx.rpc.tasks.addComment({
        taskId: requireGlobalId(String(input.taskId), "Task"),
        body: input.body,
      });
      if (!res.comment) throw new Error("projects answered without a comment");
      return res.comment;
    },
  }),
);
