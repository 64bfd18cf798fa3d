import type { ServiceImpl } from "@connectrpc/connect";
import type { TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { commentToProto } from "../contract.ts";
import { addComment, batchListComments, listComments } from "../domain/comments.ts";
import { type HandlerDeps, pageOf } from "./context.ts";

type Impl = ServiceImpl<typeof TaskService>;

/** TaskService's comment RPCs: AddComment, ListComments, BatchListComments. */
export function commentHandlers(deps: HandlerDeps): Pick<Impl, "addComment" | "listComments" | "batchListComments"> {
  return {
    async addComment(req) {
      return { comment: commentToProto(await addComment(deps, req.taskId, req.body)) };
    },
    async listComments(req) {
      const page = await listComments(deps, req.taskId, pageOf(req.page));
      return { comments: page.items.map(commentToProto), page: { nextPageToken: page.nextPageToken } };
    },
    async batchListComments(req) {
      const pages = await batchListComments(deps, req.taskIds, { size: req.pageSize });
      return {
        tasks: pages.map((p) => ({
          taskId: p.parentId,
          comments: p.items.map(commentToProto),
          page: { nextPageToken: p.nextPageToken },
        })),
      };
    },
  };
}
