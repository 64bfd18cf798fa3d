import type { Client } from "@connectrpc/connect";
import type { Comment, TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { requiresScope } from "../../openapi.ts";
import {
  apiRoute,
  createHeaders,
  createRoute,
  isoTime,
  listOf,
  nextCursor,
  pageQuery,
  pageRequest,
  pathId,
  problemResponses,
  timestamp,
} from "./common.ts";

/** A comment as the REST API shows it. */
export const CommentSchema = z
  .object({
    id: z.string(),
    task_id: z.string(),
    author_id: z.string().describe("User id (or API key id) of the author"),
    body: z.string(),
    created_at: timestamp(),
  })
  .meta({ id: "Comment" });

type CommentView = z.infer<typeof CommentSchema>;

/** The contract's comment as the REST representation. */
export function commentView(c: Comment | undefined): CommentView {
  if (!c) throw new Error("projects answered without a comment");
  return { id: c.id, task_id: c.taskId, author_id: c.authorId, body: c.body, created_at: isoTime(c.createTime) };
}

const AddCommentBody = z.strictObject({ body: z.string().min(1).max(10_000) });
const taskParams = z.object({ taskId: z.string().describe("Task id (UUID)") });

/** /v1/tasks/{id}/comments: list (oldest first) and add. */
export function commentRoutes(app: FastifyInstance, tasks: Client<typeof TaskService>): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ["comments"];

  r.get(
    "/v1/tasks/:taskId/comments",
    {
      config: apiRoute,
      schema: {
        operationId: "listComments",
        security: requiresScope("comments.read"),
        summary: "List a task's comments",
        tags,
        params: taskParams,
        querystring: z.object(pageQuery),
        response: { 200: listOf(CommentSchema, "CommentList"), ...problemResponses(400, 403, 404) },
      },
    },
    async (req) => {
      const res = await tasks.listComments({ taskId: pathId(req.params.taskId), page: pageRequest(req.query) });
      return { data: res.comments.map(commentView), next_cursor: nextCursor(res.page) };
    },
  );

  r.post(
    "/v1/tasks/:taskId/comments",
    {
      config: createRoute,
      schema: {
        operationId: "addComment",
        security: requiresScope("comments.write"),
        summary: "Comment on a task",
        tags,
        params: taskParams,
        headers: createHeaders,
        body: AddCommentBody,
        response: { 201: CommentSchema, ...problemResponses(400, 403, 404, 409, 413, 415, 422) },
      },
    },
    async (req, reply) => {
      const res = await tasks.addComment({ taskId: pathId(req.params.taskId), body: req.body.body });
      reply.code(201);
      return commentView(res.comment);
    },
  );
}
