import { InputError } from "./errors/gateway-errors.ts";
import { fromServiceError } from "./errors/mapping.ts";

/** Forward-pagination arguments of a connection field. */
export interface PageArgs {
  readonly first?: number | null | undefined;
  readonly after?: string | null | undefined;
}

/** A Relay connection as Pothos' connection objects expect it. */
export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

/** One page as a list RPC answers it. */
export interface ServicePage<T> {
  items: readonly T[];
  nextPageToken: string;
}

/** Page sizes a connection accepts. */
export interface PageLimits {
  readonly defaultPageSize: number;
  readonly maxPageSize: number;
}

const PREFIX = "c1";

/** The one answer to every cursor the caller cannot use: malformed, altered, or another tenant's. */
export function invalidCursor(): InputError {
  return new InputError("Invalid cursor.", [{ field: "after", message: "not a cursor of this list" }]);
}

/**
 * Edge cursors: the service's page token plus how many items of that page to skip. Services only
 * hand out a token per page; this makes every edge a place to resume from.
 */
export function encodeCursor(pageToken: string, skip: number): string {
  return Buffer.from(`${PREFIX}:${skip}:${pageToken}`, "utf8").toString("base64url");
}

/** The page token and skip inside a cursor; InputError for anything that is not one. */
export function decodeCursor(cursor: string): { pageToken: string; skip: number } {
  if (cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  const [prefix, skip, ...rest] = Buffer.from(cursor, "base64url").toString("utf8").split(":");
  const n = Number(skip);
  if (prefix !== PREFIX || !/^\d{1,3}$/.test(skip ?? "") || !Number.isInteger(n) || rest.length === 0) {
    throw invalidCursor();
  }
  return { pageToken: rest.join(":"), skip: n };
}

/** The page size asked for, checked against the limits (the limits plugin refuses larger ones earlier). */
export function pageSize(args: PageArgs, limits: PageLimits): number {
  const first = args.first ?? limits.defaultPageSize;
  if (!Number.isInteger(first) || first < 0 || first > limits.maxPageSize) {
    throw new InputError(`first must be between 0 and ${limits.maxPageSize}.`, [
      { field: "first", message: `must be between 0 and ${limits.maxPageSize}` },
    ]);
  }
  return first;
}

/**
 * Reads one connection page through a list RPC: resumes at the cursor's token, skips what the
 * cursor already delivered, and gives every edge its own cursor. A token the service refuses
 * (altered, another list's or another tenant's) is reported exactly like a malformed cursor.
 */
export async function fetchConnection<T>(
  args: PageArgs,
  limits: PageLimits,
  fetch: (pageToken: string, pageSize: number) => Promise<ServicePage<T>>,
): Promise<Connection<T>> {
  const first = pageSize(args, limits);
  const { pageToken, skip } = args.after ? decodeCursor(args.after) : { pageToken: "", skip: 0 };
  const page = await fetch(pageToken, skip + Math.max(first, 1)).catch((err: unknown) => {
    const mapped = fromServiceError(err);
    const aboutCursor = (e: InputError) => e.fieldErrors.length === 0 || e.fieldErrors.some((f) => f.field === "after");
    if (pageToken !== "" && mapped instanceof InputError && aboutCursor(mapped)) throw invalidCursor();
    throw mapped;
  });
  const items = page.items.slice(skip, skip + first);
  const lastOfPage = page.items.length - 1;
  const edges = items.map((node, i) => {
    const index = skip + i;
    const cursor =
      index === lastOfPage && page.nextPageToken !== ""
        ? encodeCursor(page.nextPageToken, 0)
        : encodeCursor(pageToken, index + 1);
    return { cursor, node };
  });
  const hasNextPage = page.items.length > skip + first || page.nextPageToken !== "";
  let endCursor = edges.at(-1)?.cursor ?? null;
  if (endCursor === null && page.nextPageToken !== "" && page.items.length <= skip)
    endCursor = encodeCursor(page.nextPageToken, 0);
  return {
    edges,
    pageInfo: {
      hasNextPage,
      hasPreviousPage: skip > 0 || pageToken !== "",
      startCursor: edges[0]?.cursor ?? null,
      endCursor,
    },
  };
}
