import { InvalidArgument } from "@tessera/platform/errors";

/** A page request, as the handlers pass it on. */
export interface PageInput {
  pageSize: number;
  pageToken: string;
}

/** Where the previous page ended: the last row's sort key. */
export interface Cursor {
  /** The row's created_at exactly as PostgreSQL printed it (microseconds kept). */
  at: string;
  id: string;
}

const DEFAULT_PAGE_SIZE = 50;
const BAD_TOKEN = { field: "page.page_token", message: "not a page token of this list" };

/** The page size to use (0 → the default). */
export function pageSize(page: PageInput | undefined): number {
  return page?.pageSize ? page.pageSize : DEFAULT_PAGE_SIZE;
}

/**
 * Decodes a page token; tokens are bound to the tenant and the list they came from, so one from
 * another tenant or list is InvalidArgument.
 */
export function decodeCursor(page: PageInput | undefined, tenantId: string, list: string): Cursor | undefined {
  if (!page?.pageToken) return undefined;
  try {
    const value = JSON.parse(Buffer.from(page.pageToken, "base64url").toString("utf8")) as Record<string, unknown>;
    if (value.t !== tenantId || value.l !== list || typeof value.a !== "string" || typeof value.i !== "string") {
      throw new Error("foreign cursor");
    }
    if (
      !/^[0-9a-f-]{36}$/.test(value.i) ||
      Number.isNaN(Date.parse(value.a.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")))
    ) {
      throw new Error("malformed cursor");
    }
    return { at: value.a, id: value.i };
  } catch {
    throw new InvalidArgument("invalid page token", [BAD_TOKEN]);
  }
}

/** The next page's token, or "" when this page is the last. */
export function nextPageToken(tenantId: string, list: string, last: Cursor | undefined, more: boolean): string {
  if (!more || !last) return "";
  return Buffer.from(JSON.stringify({ t: tenantId, l: list, a: last.at, i: last.id })).toString("base64url");
}
