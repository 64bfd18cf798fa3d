import { type EntityDictionary, LockMode } from "@mikro-orm/core";
import { withTenantTransaction } from "@tessera/platform/db";
import { publishCommentAdded } from "../events/publish-comment-event.ts";
import { authorize } from "./access.ts";
import { batchRows, groupRows, pgUuids } from "./batch.ts";
import { decodeCursor, encodeCursor, isUuid, listKey } from "./cursor.ts";
import type { ProjectsDeps } from "./deps.ts";
import { Comment, type CommentRow } from "./entities.ts";
import { type CommentView, type Page, type PageInput, type ParentPage, pageSize } from "./model.ts";
import { enforceQuotas } from "./quotas.ts";
import { commentView, requireText, uniqueIds } from "./rules.ts";
import { findTask } from "./tasks.ts";

/**
 * Adds a comment to a task of the caller's tenant (NotFound otherwise) and enqueues
 * `comment.added`. The author is the caller (user id, API key id or service name). The task is
 * share-locked, so a concurrent delete waits instead of failing the insert. Beyond the plan's
 * `storage_bytes` quota, QuotaExceeded.
 */
export async function addComment(deps: ProjectsDeps, taskId: string, body: string): Promise<CommentView> {
  const { principal, tenantId } = authorize("comments.write");
  requireText(body, "body");
  const plan = await deps.quotaOf(tenantId);
  const comment = await withTenantTransaction(deps.orm, async (em) => {
    const task = await findTask(em, taskId, LockMode.PESSIMISTIC_READ);
    const row = em.create(Comment, { taskId: task.id, authorId: principal.subject, body });
    await em.flush();
    await enforceQuotas(em, tenantId, plan, { grewStorage: true });
    const view = commentView(row);
    await publishCommentAdded(em, view);
    return view;
  });
  deps.logger.info({ comment_id: comment.id, task_id: comment.taskId }, "comment added");
  return comment;
}

function commentPosition(parts: unknown[]): { at: Date; id: string } | undefined {
  const [at, id, ...rest] = parts;
  if (typeof at !== "number" || !Number.isSafeInteger(at) || !isUuid(id) || rest.length > 0) return undefined;
  return { at: new Date(at), id };
}

/** The fingerprint of one task's comment list: what its page tokens are bound to. */
function commentsKey(tenantId: string, task: string): string {
  return listKey("comments", tenantId, { task });
}

/** A page of a task's comments, oldest first; NotFound for a task not in the caller's tenant. */
export async function listComments(deps: ProjectsDeps, taskId: string, page: PageInput): Promise<Page<CommentView>> {
  const { tenantId } = authorize("comments.read");
  const task = taskId.toLowerCase();
  const key = commentsKey(tenantId, task);
  const after = page.token === "" ? undefined : decodeCursor(page.token, key, commentPosition);
  const size = pageSize(page);
  const rows = await withTenantTransaction(deps.orm, async (em) => {
    await findTask(em, task);
    return em.find(
      Comment,
      {
        taskId: task,
        ...(after && { $or: [{ createdAt: { $gt: after.at } }, { createdAt: after.at, id: { $gt: after.id } }] }),
      },
      { orderBy: { createdAt: "asc", id: "asc" }, limit: size + 1 },
    );
  });
  const shown = rows.slice(0, size);
  const last = shown.at(-1);
  return {
    items: shown.map(commentView),
    nextPageToken: rows.length > size && last ? encodeCursor([last.createdAt.getTime(), last.id], key) : "",
  };
}

/**
 * The first page of comments of several tasks, in one statement: per task exactly what
 * listComments answers for the first page (its token continues with listComments). Tasks not
 * found in the caller's tenant are left out; the others come in the order asked for, each once.
 */
export async function batchListComments(
  deps: ProjectsDeps,
  taskIds: readonly string[],
  page: Pick<PageInput, "size">,
): Promise<ParentPage<CommentView>[]> {
  const { tenantId } = authorize("comments.read");
  const wanted = uniqueIds(taskIds);
  const size = pageSize({ size: page.size, token: "" });
  // one index range scan per task (comments_order_idx), limited to a page and one more
  const statement = `select k.id as batch_parent_id, c.*
    from tasks k
    left join lateral (
      select * from comments c
      where c.tenant_id = k.tenant_id and c.task_id = k.id
      order by c.created_at, c.id
      limit ?
    ) c on true
    where k.tenant_id = ? and k.id = any(?::uuid[])
    order by k.id, c.created_at, c.id`;
  const pages = await withTenantTransaction(deps.orm, async (em) => {
    const rows = await batchRows(em, statement, [size + 1, tenantId, pgUuids(wanted)]);
    return groupRows(rows, (row) => em.map(Comment, row as EntityDictionary<CommentRow>));
  });
  return wanted.flatMap((id) => {
    const rows = pages.get(id);
    if (!rows) return [];
    const shown = rows.slice(0, size);
    const last = shown.at(-1);
    return [
      {
        parentId: id,
        items: shown.map(commentView),
        nextPageToken:
          rows.length > size && last
            ? encodeCursor([last.createdAt.getTime(), last.id], commentsKey(tenantId, id))
            : "",
      },
    ];
  });
}
