import { UniqueConstraintViolationException } from "@mikro-orm/core";
import { FailedPrecondition, InvalidArgument } from "@tessera/platform/errors";
import type { CommentRow, ProjectRow, TaskRow } from "./entities.ts";
import type { CommentView, ProjectView, TaskView } from "./model.ts";

/** A project row as the domain hands it out. */
export function projectView(row: ProjectRow): ProjectView {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    description: row.description,
    archived: row.archivedAt != null,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A task row as the domain hands it out. */
export function taskView(row: TaskRow): TaskView {
  return {
    id: row.id,
    projectId: row.projectId,
    title: row.title,
    description: row.description,
    status: row.status,
    assigneeId: row.assigneeId ?? null,
    labels: [...row.labels],
    dueDate: row.dueDate ?? null,
    position: row.position,
    version: row.version,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A comment row as the domain hands it out. */
export function commentView(row: CommentRow): CommentView {
  return { id: row.id, taskId: row.taskId, authorId: row.authorId, body: row.body, createdAt: row.createdAt };
}

/**
 * Optimistic concurrency: when the caller names a version (> 0), the change applies only if the
 * resource is still at it. FailedPrecondition on `expected_version` otherwise.
 */
export function checkVersion(what: "project" | "task", current: number, expected: number): void {
  if (expected > 0 && expected !== current) {
    throw new FailedPrecondition(`the ${what} has changed since it was read`, [
      { field: "expected_version", message: `is ${expected}, but the ${what} is at version ${current}` },
    ]);
  }
}

/** A required text field: InvalidArgument on `field` when it is empty or only white space. */
export function requireText(value: string, field: string): string {
  if (value.trim() === "") {
    throw new InvalidArgument(`${field} is required`, [{ field, message: "must contain a non-space character" }]);
  }
  return value;
}

/** A calendar date `YYYY-MM-DD` that exists (no 2025-02-30): InvalidArgument on `field` otherwise. */
export function requireDate(value: string, field: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const [y, m, d] = match ? [Number(match[1]), Number(match[2]), Number(match[3])] : [0, 0, 0];
  const date = new Date(Date.UTC(y, m - 1, d));
  if (!match || y < 1 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    throw new InvalidArgument(`${field} is not a calendar date`, [
      { field, message: "must be a calendar date YYYY-MM-DD that exists" },
    ]);
  }
  return value;
}

/** The name of the unique constraint an error violated, if it is such an error. */
export function uniqueConstraint(err: unknown): string | undefined {
  if (!(err instanceof UniqueConstraintViolationException)) return undefined;
  const constraint = (err as unknown as { constraint?: unknown }).constraint;
  return typeof constraint === "string" ? constraint : undefined;
}

/** Request ids in canonical form, each once, in the order first asked for. */
export function uniqueIds(ids: readonly string[]): string[] {
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}

/** Rows in the order of `ids`; ids without a row are left out. */
export function inOrder<T extends { id: string }>(ids: readonly string[], rows: readonly T[]): T[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => {
    const row = byId.get(id);
    return row ? [row] : [];
  });
}
