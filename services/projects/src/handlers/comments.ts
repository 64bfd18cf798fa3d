import type { ServiceImpl } from "@connectrpc/connect";
import type { TaskService } from "@tessera/proto/tessera/projects/v1/projects_pb";
import { commentToProto } from "../contract.ts";
import { addComment, listComments } from "../domain/comments.ts";
import { type HandlerDeps, pageOf } from "./context.ts";

type Impl = ServiceImpl<typeof TaskService>;

/** TaskService's comment RPCs: AddComment, ListComments. */
export function commentHandlers(deps: HandlerDeps): Pick<Impl, "addComment" | "listComments"> {
  return {
    async addComment(req) {
      return { comment: commentToProto(await addComment(deps, req.taskId, req.body)) };
    },
    async listComments(req) {
      const page = await listComments(deps, req.taskId, pageOf(req.page));
      return { comments: page.items.map(commentToProto), page: { nextPageToken: page.nextPageToken } };
    },
  };
}
