import { createHash } from "node:crypto";
import { InvalidArgument } from "@tessera/platform/errors";

/** The position after the last item of a page (the list is ordered by created_at desc, id desc). */
export interface CursorPosition {
  readonly createdAt: Date;
  readonly id: string;
}

const FIELD = "page.page_token";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function digest(text: string): string {
  return createHash("sha256").update(`tessera.tenancy.cursor\n${text}`).digest("base64url").slice(0, 16);
}

/** A short fingerprint of what the list is filtered by (and for whom), bound into its cursors. */
export function filterKey(parts: Record<string, string>): string {
  return digest(JSON.stringify(Object.entries(parts).sort(([a], [b]) => a.localeCompare(b))));
}

/**
 * An opaque page token: the last position and the filter fingerprint, with a checksum. It is not
 * secret and grants nothing (a caller only ever pages through rows it may see); the checksum and
 * the fingerprint only make a token that was altered, or reused with other filters, fail loudly
 * instead of returning a silently wrong page.
 */
export function encodeCursor(position: CursorPosition, filter: string): string {
  const body = Buffer.from(JSON.stringify([position.createdAt.getTime(), position.id, filter])).toString("base64url");
  return `${body}.${digest(body)}`;
}

function invalid(message: string): InvalidArgument {
  return new InvalidArgument("invalid page token", [{ field: FIELD, message }]);
}

/** Decodes a page token for the given filter; InvalidArgument on `page.page_token` when it is not one. */
export function decodeCursor(token: string, filter: string): CursorPosition {
  const [body, sum, extra] = token.split(".");
  if (body === undefined || sum === undefined || extra !== undefined || digest(body) !== sum) {
    throw invalid("not a page token from this list (altered or truncated)");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw invalid("not a page token from this list (altered or truncated)");
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== "string" ||
    !UUID.test(parsed[1]) ||
    typeof parsed[2] !== "string"
  ) {
    throw invalid("not a page token from this list (altered or truncated)");
  }
  if (parsed[2] !== filter) throw invalid("page token belongs to a list with other filters");
  return { createdAt: new Date(parsed[0] as number), id: parsed[1] };
}
