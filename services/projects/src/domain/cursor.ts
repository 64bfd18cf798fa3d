import { createHash } from "node:crypto";
import { InvalidArgument } from "@tessera/platform/errors";

const FIELD = "page.page_token";

function digest(text: string): string {
  return createHash("sha256").update(`tessera.projects.cursor\n${text}`).digest("base64url").slice(0, 16);
}

/**
 * A short fingerprint of a list: its name, the caller's tenant and every filter, bound into its
 * cursors so that a token is only accepted by the very list (and tenant) it came from.
 */
export function listKey(list: string, tenantId: string, filters: Record<string, string> = {}): string {
  const sorted = Object.entries(filters).sort(([a], [b]) => a.localeCompare(b));
  return digest(JSON.stringify([list, tenantId, sorted]));
}

/** A cursor position: the sort key of the last item of a page. */
export type Position = readonly (string | number)[];

/**
 * An opaque page token: the last position and the list fingerprint, with a checksum. It is not
 * secret and grants nothing (a caller only pages through rows RLS lets it see); the checksum and
 * fingerprint make a token that was altered, or reused with another list, filter or tenant, fail
 * with InvalidArgument instead of returning a silently wrong page.
 */
export function encodeCursor(position: Position, key: string): string {
  const body = Buffer.from(JSON.stringify([key, ...position])).toString("base64url");
  return `${body}.${digest(body)}`;
}

function invalid(message: string): InvalidArgument {
  return new InvalidArgument("invalid page token", [{ field: FIELD, message }]);
}

/**
 * Decodes a page token of the list `key`; `shape` checks the position's parts and returns them
 * typed (or undefined). InvalidArgument on `page.page_token` for anything else.
 */
export function decodeCursor<T>(token: string, key: string, shape: (parts: unknown[]) => T | undefined): T {
  const [body, sum, extra] = token.split(".");
  if (body === undefined || sum === undefined || extra !== undefined || digest(body) !== sum) {
    throw invalid("not a page token of this list (altered or truncated)");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    throw invalid("not a page token of this list (altered or truncated)");
  }
  if (!Array.isArray(parsed) || typeof parsed[0] !== "string") {
    throw invalid("not a page token of this list (altered or truncated)");
  }
  if (parsed[0] !== key) throw invalid("page token belongs to another list, filter or tenant");
  const position = shape(parsed.slice(1));
  if (position === undefined) throw invalid("not a page token of this list (altered or truncated)");
  return position;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a lower-case UUID (ids in cursors are always canonical). */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}
