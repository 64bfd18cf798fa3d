/** Where a task stands. */
export type TaskStatus = "todo" | "in_progress" | "done";

/** Every task status, in workflow order. */
export const TASK_STATUSES: readonly TaskStatus[] = ["todo", "in_progress", "done"];

/** Message of every "no such project, or not yours" answer: the two must be indistinguishable. */
export const PROJECT_NOT_FOUND = "project not found";
/** Message of every "no such task, or not yours" answer. */
export const TASK_NOT_FOUND = "task not found";

/** A project as the domain hands it out. */
export interface ProjectView {
  readonly id: string;
  readonly key: string;
  readonly name: string;
  readonly description: string;
  readonly archived: boolean;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A task as the domain hands it out. */
export interface TaskView {
  readonly id: string;
  readonly projectId: string;
  readonly title: string;
  readonly description: string;
  readonly status: TaskStatus;
  readonly assigneeId: string | null;
  readonly labels: readonly string[];
  /** Calendar date `YYYY-MM-DD`, or null. */
  readonly dueDate: string | null;
  readonly position: number;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** A comment as the domain hands it out. */
export interface CommentView {
  readonly id: string;
  readonly taskId: string;
  readonly authorId: string;
  readonly body: string;
  readonly createdAt: Date;
}

/** One page of a list and the token of the next page ("" after the last). */
export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

/** The first page of one parent's children in a batch list. */
export interface ParentPage<T> extends Page<T> {
  readonly parentId: string;
}

/** A page request after the contract's checks: size 0 means the default. */
export interface PageInput {
  readonly size: number;
  readonly token: string;
}

/** Items of a page when the caller asks for none in particular. */
export const DEFAULT_PAGE_SIZE = 50;

/** The page size to use. */
export function pageSize(page: PageInput): number {
  return page.size > 0 ? page.size : DEFAULT_PAGE_SIZE;
}
