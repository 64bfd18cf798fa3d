import { NotFoundError } from "./errors/gateway-errors.ts";

/** Types whose ids the graph hands out as Relay global ids. */
export type GlobalType =
  | "Project"
  | "Task"
  | "User"
  | "Comment"
  | "Tenant"
  | "Invitation"
  | "ApiKey"
  | "Session"
  | "ScimToken";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `base64("<Type>:<uuid>")`, the Relay global id of an object. */
export function encodeGlobalId(type: GlobalType | (string & {}), id: string): string {
  return Buffer.from(`${type}:${id}`, "utf8").toString("base64");
}

/**
 * The (lower-case) UUID inside a global id of `type`; undefined for anything else: not base64,
 * another type's id, not a UUID. Callers treat undefined exactly like an id that does not exist.
 */
export function parseGlobalId(globalId: string, type: GlobalType): string | undefined {
  if (globalId.length > 200 || !BASE64.test(globalId)) return undefined;
  const text = Buffer.from(globalId, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0 || text.slice(0, colon) !== type) return undefined;
  const id = text.slice(colon + 1);
  return UUID.test(id) ? id.toLowerCase() : undefined;
}

/** The type named by a global id, if it decodes at all. */
export function globalIdType(globalId: string): string | undefined {
  if (globalId.length > 200 || !BASE64.test(globalId)) return undefined;
  const text = Buffer.from(globalId, "base64").toString("utf8");
  const colon = text.indexOf(":");
  return colon > 0 ? text.slice(0, colon) : undefined;
}

/** Like parseGlobalId, but a malformed or foreign-type id is the same NotFoundError a missing object gives. */
export function requireGlobalId(globalId: string, type: GlobalType): string {
  const id = parseGlobalId(globalId, type);
  if (id === undefined) throw new NotFoundError();
  return id;
}
