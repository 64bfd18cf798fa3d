import { LockMode } from "@mikro-orm/core";
import type { TxEntityManager } from "@tessera/platform/db";
import { Task } from "./entities.ts";

/**
 * Tasks are ordered by a fractional `position` (a double). Appending adds {@link POSITION_STEP} to
 * the last position; moving between two tasks takes the midpoint. When repeated moves into one gap
 * leave less than {@link MIN_GAP} between neighbours, the project's tasks are renumbered
 * (STEP, 2·STEP, …) in their current order, which is rare and keeps doubles far from their
 * precision limit.
 */
export const POSITION_STEP = 1024;
/** The smallest gap a midpoint may be taken in; below it the project is renumbered. */
export const MIN_GAP = 1e-6;

/** The position of a task appended after `last` (the project's last position, if any). */
export function positionAfter(last: number | undefined): number {
  return last === undefined ? POSITION_STEP : last + POSITION_STEP;
}

/** A position strictly between `lo` (none: the start) and `hi`, or undefined when the gap is used up. */
export function positionBetween(lo: number | undefined, hi: number): number | undefined {
  if (lo === undefined) return hi - POSITION_STEP;
  if (!(hi - lo >= 2 * MIN_GAP)) return undefined;
  const mid = lo + (hi - lo) / 2;
  return mid > lo && mid < hi ? mid : undefined;
}

/**
 * Renumbers a project's tasks (all but `except`) to STEP, 2·STEP, … in their current order, bumping
 * the version of each task whose position changes. The caller holds the project's lock; the rows
 * are locked and re-read here, so changes committed meanwhile are not overwritten. Returns how many
 * tasks got a new position.
 */
export async function renumber(em: TxEntityManager, projectId: string, except: string): Promise<number> {
  const tasks = await em.find(
    Task,
    { projectId, id: { $ne: except } },
    { orderBy: { position: "asc", id: "asc" }, lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true },
  );
  let changed = 0;
  for (const [i, task] of tasks.entries()) {
    const position = (i + 1) * POSITION_STEP;
    if (task.position === position) continue;
    task.position = position;
    task.version += 1;
    changed += 1;
  }
  return changed;
}
