import DataLoader from "dataloader";
import type { GatewayContext } from "./context.ts";
import { NotFoundError } from "./errors/gateway-errors.ts";
import type { ServicePage } from "./pagination.ts";

/** Parents per batch list call (the contract's limit). */
export const MAX_PARENTS_PER_BATCH = 100;

/** One parent's first page, as a batch list RPC answers it. */
export interface ParentPage<T> extends ServicePage<T> {
  readonly parentId: string;
}

/** What a nested first page is asked with: the list, its arguments (filters, page size), the parent. */
export interface FirstPageKey {
  /** The list, e.g. `Project.tasks`. */
  readonly list: string;
  /** Everything but the parent that decides the page: filters and page size, in a fixed order. */
  readonly args: readonly (string | number)[];
  readonly parentId: string;
}

type Loader = DataLoader<string, ServicePage<unknown>>;

const perRequest = new WeakMap<GatewayContext, Map<string, Loader>>();

/**
 * The first page of a list under a parent (a project's tasks, a task's comments), through a
 * per-request DataLoader keyed by (list, arguments, parent id): every parent asked for with the same
 * arguments while a query resolves one level goes into one batch RPC (up to
 * {@link MAX_PARENTS_PER_BATCH} parents a call). A parent the service leaves out (gone, or not
 * visible) fails with NotFoundError, as the single-parent list would. Later pages (`after`) are
 * not batched: their tokens differ per parent.
 */
export function loadFirstPage<T>(
  ctx: GatewayContext,
  key: FirstPageKey,
  batch: (parentIds: string[]) => Promise<readonly ParentPage<T>[]>,
): Promise<ServicePage<T>> {
  let loaders = perRequest.get(ctx);
  if (!loaders) {
    loaders = new Map();
    perRequest.set(ctx, loaders);
  }
  const name = JSON.stringify([key.list, ...key.args]);
  let loader = loaders.get(name);
  if (!loader) {
    loader = new DataLoader<string, ServicePage<unknown>>(
      async (ids) => {
        const pages = new Map((await batch([...ids])).map((p) => [p.parentId, p]));
        return ids.map((id) => pages.get(id) ?? new NotFoundError());
      },
      { maxBatchSize: MAX_PARENTS_PER_BATCH },
    );
    loaders.set(name, loader);
  }
  return loader.load(key.parentId) as Promise<ServicePage<T>>;
}
