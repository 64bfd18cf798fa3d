import { createHash } from "node:crypto";
import { type ScimPatchOperation, scimPatch } from "scim-patch";
import { badRequest, ScimError } from "./errors.ts";
import { ENTERPRISE_SCHEMA, MAX_RESULTS, PATCH_SCHEMA } from "./schemas.ts";

/** A SCIM resource as JSON. */
export type Resource = Record<string, unknown>;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** 400 invalidValue when a string holds control characters (NUL included) or lone surrogates. */
export function requireCleanText(value: string, where: string): void {
  if (CONTROL.test(value)) throw badRequest("invalidValue", `${where}: control characters are not allowed`);
}

/** Checks every string in a parsed body. */
export function requireCleanStrings(value: unknown, where = "body", depth = 0): void {
  if (depth > 32) throw badRequest("invalidSyntax", "the body is nested too deeply");
  if (typeof value === "string") requireCleanText(value, where);
  else if (Array.isArray(value)) for (const v of value) requireCleanStrings(v, where, depth + 1);
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      requireCleanText(k, where);
      requireCleanStrings(v, k, depth + 1);
    }
  }
}

/** The weak ETag of a resource: a digest of its representation without `meta`. */
export function etagOf(resource: Resource): string {
  const { meta: _meta, ...rest } = resource;
  return `W/"${createHash("sha256").update(JSON.stringify(rest)).digest("base64url").slice(0, 22)}"`;
}

/** 412 when If-Match names versions and none is the current one. */
export function requireIfMatch(header: string | undefined, current: Resource): void {
  if (header === undefined || header.trim() === "*") return;
  const etag = etagOf(current);
  const strip = (t: string) => t.trim().replace(/^W\//, "");
  if (!header.split(",").some((t) => strip(t) === strip(etag))) {
    throw new ScimError(412, "the resource changed: its version no longer matches If-Match");
  }
}

/** startIndex (1-based) and count of a list request; bad numbers are invalidValue. */
export function paging(params: URLSearchParams): { offset: number; limit: number } {
  const int = (name: string, fallback: number) => {
    const raw = params.get(name);
    if (raw === null || raw === "") return fallback;
    if (!/^-?\d{1,9}$/.test(raw)) throw badRequest("invalidValue", `${name} must be an integer`);
    return Number(raw);
  };
  const start = Math.max(1, int("startIndex", 1));
  const count = Math.min(MAX_RESULTS, Math.max(0, int("count", 100)));
  return { offset: start - 1, limit: count };
}

/**
 * Applies `attributes` / `excludedAttributes` (top-level names; `name.givenName` keeps `name`).
 * id, schemas and meta are always returned.
 */
export function project(resource: Resource, params: URLSearchParams, urn: string): Resource {
  const names = (key: string) =>
    (params.get(key) ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean)
      .map((s) => (s.startsWith(`${urn.toLowerCase()}:`) ? s.slice(urn.length + 1) : s).split(".")[0] ?? s);
  const include = names("attributes");
  const exclude = names("excludedAttributes");
  const always = new Set(["id", "schemas", "meta"]);
  if (include.length === 0 && exclude.length === 0) return resource;
  return Object.fromEntries(
    Object.entries(resource).filter(([k]) => {
      const key = k.toLowerCase();
      if (always.has(key)) return true;
      if (include.length > 0) return include.includes(key);
      return !exclude.includes(key);
    }),
  );
}

/** Whether a list request asks to leave out an attribute (to skip loading it). */
export function excludes(params: URLSearchParams, name: string): boolean {
  const lower = name.toLowerCase();
  const list = (key: string) =>
    (params.get(key) ?? "")
      .toLowerCase()
      .split(",")
      .map((s) => s.trim());
  const attrs = list("attributes").filter(Boolean);
  return list("excludedAttributes").includes(lower) || (attrs.length > 0 && !attrs.includes(lower));
}

const OPS = new Set(["add", "replace", "remove"]);
const MAX_OPERATIONS = 1000;

/**
 * Applies an RFC 7644 §3.5.2 PatchOp body to `current` with scim-patch and returns the result.
 * Operations on the enterprise extension are dropped (not stored); paths whose first attribute is
 * not in `known` are invalidPath; the library's own refusals keep their scimType.
 */
export function applyPatch(current: Resource, body: unknown, known: ReadonlySet<string>, urn: string): Resource {
  const b = body as { schemas?: unknown; Operations?: unknown };
  if (!b || typeof b !== "object" || !Array.isArray(b.schemas) || !b.schemas.includes(PATCH_SCHEMA)) {
    throw badRequest("invalidSyntax", `a PATCH body needs schemas [${PATCH_SCHEMA}]`);
  }
  if (!Array.isArray(b.Operations) || b.Operations.length === 0) {
    throw badRequest("invalidSyntax", "a PATCH body needs Operations");
  }
  if (b.Operations.length > MAX_OPERATIONS) throw badRequest("invalidValue", "too many operations");
  const ops: ScimPatchOperation[] = [];
  for (const raw of b.Operations as Array<Record<string, unknown>>) {
    const op = typeof raw?.op === "string" ? raw.op.toLowerCase() : "";
    if (!OPS.has(op)) throw badRequest("invalidSyntax", "each operation's op is add, replace or remove");
    if (raw.path !== undefined && typeof raw.path !== "string")
      throw badRequest("invalidPath", "path must be a string");
    let path: string | undefined = raw.path;
    if (typeof path === "string") {
      if (path.startsWith(`${ENTERPRISE_SCHEMA}`)) continue;
      if (path.toLowerCase().startsWith(`${urn.toLowerCase()}:`)) path = path.slice(urn.length + 1);
      const head = path.split(/[.[]/, 1)[0]?.toLowerCase() ?? "";
      if (!known.has(head)) throw badRequest("invalidPath", `unknown attribute ${path.slice(0, 100)}`);
    } else if (op === "remove") {
      throw badRequest("noTarget", "remove needs a path");
    }
    let value = raw.value;
    if (op === "remove" && path && /^\w+$/.test(path) && Array.isArray(value)) {
      // Okta/Azure AD remove members by `value` list: match on `value`, not on the whole object,
      // and leave out values that are not there (removing a non-member changes nothing)
      const present = current[Object.keys(current).find((k) => k.toLowerCase() === path?.toLowerCase()) ?? ""];
      const have = new Set(Array.isArray(present) ? present.map((p) => (p as { value?: unknown })?.value) : []);
      for (const v of value) {
        const target = (v as { value?: unknown })?.value;
        if (typeof target !== "string") throw badRequest("invalidValue", "remove values need a value");
        if (have.has(target)) ops.push({ op: "remove", path: `${path}[value eq ${JSON.stringify(target)}]` });
      }
      continue;
    }
    if (path === undefined && value && typeof value === "object" && !Array.isArray(value)) {
      value = Object.fromEntries(
        Object.entries(value).filter(([k]) => !k.startsWith(ENTERPRISE_SCHEMA) && k !== "schemas"),
      );
    }
    ops.push({ op, ...(path !== undefined && { path }), ...(value !== undefined && { value }) } as ScimPatchOperation);
  }
  if (ops.length === 0) return current;
  try {
    return scimPatch(structuredClone(current) as Resource & { meta: never; schemas: string[] }, ops, {
      mutateDocument: true,
      treatMissingAsAdd: true,
    });
  } catch (err) {
    if (err instanceof ScimError) throw err;
    const e = err as { scimCode?: string; message?: string };
    const type = e.scimCode === "noTarget" || e.scimCode === "invalidPath" ? e.scimCode : "invalidSyntax";
    throw badRequest(type, String(e.message ?? "invalid PATCH").slice(0, 300));
  }
}
